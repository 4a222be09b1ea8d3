// The rules a receiver applies to an offered file name (PROTOCOL.md, "File transfer", `file`): a name
// that breaks one is refused with Reject, whatever the browser would have made of it.

const utf8 = new TextEncoder();
/** Control and format characters; U+200C and U+200D (joiners) are allowed. */
const HIDDEN = /[\p{Cc}\p{Cf}]/u;
const DEVICE = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])$/iu;

/** Why `path` may not be received, or null when it may. */
export function badPath(path: string): string | null {
  const bytes = utf8.encode(path).length;
  if (bytes === 0) return "the file name is empty";
  if (bytes > 4096) return "the file name is longer than 4,096 bytes";
  if (path.startsWith("/")) return "the file name is an absolute path";
  if (path.includes("\\")) return "the file name contains a backslash";
  if (path.includes(":")) return "the file name contains a colon";
  for (const ch of path) {
    if (HIDDEN.test(ch) && ch !== "\u200c" && ch !== "\u200d") {
      const cp = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
      return `the file name contains an invisible or control character (U+${cp})`;
    }
  }
  for (const part of path.split("/")) {
    if (part === "") return "the file name has an empty part";
    if (part === "." || part === "..") return `the file name has a part "${part}"`;
    if (utf8.encode(part).length > 255) return "a part of the file name is longer than 255 bytes";
    if (part.endsWith(" ") || part.endsWith(".")) return "a part of the file name ends in a space or a dot";
    const stem = part.split(".")[0]!;
    if (DEVICE.test(stem)) return "the file name is a Windows device name";
  }
  return null;
}

/** The last part of a path: the name the download is saved under. */
export function lastPart(path: string): string {
  const parts = path.split("/").filter((p) => p !== "");
  return parts[parts.length - 1] ?? "download";
}
