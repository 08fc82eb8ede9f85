// The message box: focused by default; Enter sends, Shift+Enter adds a line, Up (in an empty
// box) edits your last message, Escape cancels the edit, and an edit saved empty deletes the
// message. It grows with its text and tells the app when the user types (for the typing
// indicator).

const MAX_HEIGHT_PX = 200;

export class Composer {
  constructor(app) {
    this.app = app;
    this.form = document.getElementById("composer");
    this.input = document.getElementById("message-input");
    this.editBar = document.getElementById("edit-bar");
    this.editing = null; // the message being edited
    this.input.addEventListener("keydown", (e) => this.onKeyDown(e));
    this.input.addEventListener("input", () => this.onInput());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    document.getElementById("edit-cancel").addEventListener("click", () => this.cancelEdit());
    // Typing anywhere outside a field goes to the message box.
    document.addEventListener("keydown", (e) => {
      const target = e.target;
      const inField = target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]");
      if (inField || e.ctrlKey || e.metaKey || e.altKey || e.key.length !== 1 || this.input.disabled) return;
      this.input.focus();
    });
  }

  setEnabled(enabled, placeholder) {
    this.input.disabled = !enabled;
    this.input.placeholder = placeholder;
    if (!enabled) this.cancelEdit();
  }

  focus() {
    if (!this.input.disabled) this.input.focus();
  }

  onKeyDown(e) {
    if (e.isComposing) return;
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      this.submit();
    } else if (e.key === "ArrowUp" && this.input.value === "" && !this.editing) {
      const last = this.app.lastOwnMessage();
      if (last) {
        e.preventDefault();
        this.startEdit(last);
      }
    } else if (e.key === "Escape" && this.editing) {
      e.preventDefault();
      this.cancelEdit();
    }
  }

  onInput() {
    this.resize();
    if (!this.editing && this.input.value.trim() !== "") this.app.typing();
  }

  startEdit(message) {
    this.editing = message;
    this.editBar.hidden = false;
    this.setText(message.content);
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
    this.app.render();
  }

  cancelEdit() {
    if (!this.editing) return;
    this.editing = null;
    this.editBar.hidden = true;
    this.setText("");
    this.app.render();
  }

  setText(text) {
    this.input.value = text;
    this.resize();
  }

  resize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, MAX_HEIGHT_PX)}px`;
  }

  async submit() {
    const text = this.input.value.trim();
    const editing = this.editing;
    if (!text) {
      if (editing) {
        this.cancelEdit();
        await this.app.deleteMessage(this.app.rooms.get(this.app.current), editing);
      }
      return;
    }
    this.editing = null;
    this.editBar.hidden = true;
    this.setText("");
    const ok = editing ? await this.app.saveEdit(editing, text) : await this.app.send(text);
    if (!ok && this.input.value === "") {
      // Give the text back so nothing typed is lost.
      this.setText(text);
      if (editing) {
        this.editing = editing;
        this.editBar.hidden = false;
      }
    }
    this.app.render();
  }
}
