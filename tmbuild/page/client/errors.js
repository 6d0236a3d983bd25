/* Why loading failed, as a code a page can translate: the message is for developers (the
 * console, a "details" disclosure), never words for visitors. */

// A file that did not arrive: checking the connection and retrying may help.
export class DownloadError extends Error {
  constructor(message) {
    super(message);
    this.code = "download";
  }
}

// Every backend the engine may use failed to start.
export class NoBackendError extends Error {
  constructor(message) {
    super(message);
    this.code = "no-backend";
  }
}

// The page was built by a tmbuild whose plan or kernels this engine does not understand.
export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.code = "format";
  }
}

// Opened from a file: the page's other files cannot be fetched.
export class FileError extends Error {
  constructor(message) {
    super(message);
    this.code = "file";
  }
}
