// The page: sign-in, then chat and files over one session. See index.html for the elements.

import { type Frame, type Welcome, fromHex, toHex } from "./codec";
import { Chat, type Conv } from "./chat";
import { $ } from "./dom";
import { Session, type SessionEnd } from "./session";
import { formatBytes } from "./format";
import {
  currentRoute, onRouteChange, openStore, registerServiceWorker, storageReady, storageRoom, whyNoStorage,
  whyNoStreaming,
} from "./sink";
import { type Outbound, Transfers, warmHasher } from "./transfers";

const KEY_STORE = "akt.resume_key";
const NAME_STORE = "akt.name";

const login = $("login") as HTMLFormElement;
const nameInput = $("name") as HTMLInputElement;
const tokenInput = $("token") as HTMLInputElement;
const connectButton = $("connect") as HTMLButtonElement;
const loginError = $("login-error");
const app = $("app");
const status = $("status");
const disconnectButton = $("disconnect") as HTMLButtonElement;
const sayForm = $("say") as HTMLFormElement;
const input = $("input") as HTMLTextAreaElement;
const joinInput = $("join-room") as HTMLInputElement;
const joinButton = $("join") as HTMLButtonElement;
const leaveButton = $("leave") as HTMLButtonElement;
const fileInput = $("file-input") as HTMLInputElement;
const folderInput = $("folder-input") as HTMLInputElement;
const drop = $("drop");
const filesTarget = $("files-target");
const limits = $("browser-limits");

let session: Session | undefined;

function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

function storedKey(): Uint8Array {
  try {
    const hex = storage()?.getItem(KEY_STORE) ?? "";
    const key = fromHex(hex);
    return key.length >= 16 && key.length <= 64 ? key : new Uint8Array(0);
  } catch {
    return new Uint8Array(0);
  }
}

const transfers = new Transfers();
const chat = new Chat({
  paced: (bucket, frame, sent) => {
    if (!session?.welcomed) throw new Error("not connected");
    return session.paced(bucket, frame, sent);
  },
  connected: () => !!session?.open,
  selected: (c) => showFilesTarget(c),
  getFile: (fileId) => {
    if (session?.open) {
      session.paced("room", { type: "GetFile", fileId });
      chat.say(`asked the server to offer the kept file ${fileId}`);
    }
  },
});

// ---- sign-in ----

function showSignIn(reason: string): void {
  app.hidden = true;
  login.hidden = false;
  disconnectButton.hidden = true;
  connectButton.disabled = false;
  loginError.textContent = reason;
  status.textContent = "not connected";
  document.title = "AkkaTcpTransfer";
  nameInput.focus();
}

function welcomed(w: Welcome): void {
  if (w.resumeKey.length >= 16) storage()?.setItem(KEY_STORE, toHex(w.resumeKey));
  login.hidden = true;
  app.hidden = false;
  disconnectButton.hidden = false;
  loginError.textContent = "";
  status.textContent = `connected as ${w.yourName}`;
  status.title = `${w.serverName}${w.registered ? ` · the name ${w.yourName} is registered to this browser` : ""}`;
  document.title = `${w.yourName} · AkkaTcpTransfer`;
  chat.start(w);
  transfers.attach(session!);
  input.focus();
}

function describeEnd(e: SessionEnd): string {
  switch (e.kind) {
    case "refused": return `refused: ${e.reason} (code ${e.code})`;
    case "goodbye":
      return e.code === 11
        ? `disconnected: ${e.reason} (code 11: this name is now used by another copy of this browser's session)`
        : `disconnected by the server: ${e.reason} (code ${e.code})`;
    case "violation": return e.reason;
    case "left": return "disconnected";
    default: return e.reason;
  }
}

function ended(s: Session, e: SessionEnd): void {
  if (session !== s) return;
  session = undefined;
  const text = describeEnd(e);
  chat.stop(e.kind === "left" ? "you disconnected" : e.reason);
  transfers.detach(e.kind === "left" ? "you disconnected" : "the connection ended");
  showSignIn(text);
}

function dispatch(f: Frame): void {
  if (transfers.frame(f)) return;
  switch (f.type) {
    case "Chat": chat.chat(f); break;
    case "History": chat.history(f); break;
    case "HistoryEnd": chat.historyEnd(f); break;
    case "SayAck": chat.sayAck(f.id, f.at, f.held); break;
    case "SayRefused": chat.sayRefused(f.id, f.code, f.reason); break;
    case "PeerJoined": chat.peerJoined(f.name); break;
    case "PeerLeft": chat.peerLeft(f.name); break;
    case "WhoReply": chat.setOnline(f.names); break;
    case "RoomJoined": chat.roomJoined(f); break;
    case "RoomLeft": chat.roomLeft(f.room, f.code, f.reason); break;
    case "RoomRefused": chat.roomRefused(f.room, f.code, f.reason); break;
    case "RoomTopic": chat.roomTopic(f.room, f.by, f.topic); break;
    case "MemberJoined": chat.members(f.room, 1); break;
    case "MemberLeft": chat.members(f.room, -1); break;
    case "Error": chat.say(`the server refused a request: ${f.message} (code ${f.code})`); break;
    case "NameStatus": chat.say(f.reason || `${f.name} is ${f.registered ? "" : "not "}registered`); break;
    default: break; // RoomList, MemberList: this page does not ask for them
  }
}

login.addEventListener("submit", (e) => {
  e.preventDefault();
  const name = nameInput.value.trim();
  if (!name || session) return;
  storage()?.setItem(NAME_STORE, name);
  loginError.textContent = "";
  connectButton.disabled = true;
  status.textContent = "connecting…";
  const s: Session = new Session(name, tokenInput.value, storedKey(), {
    welcome: welcomed,
    frame: dispatch,
    ended: (end) => ended(s, end),
  });
  session = s;
});

disconnectButton.addEventListener("click", () => session?.leave("leaving"));

// ---- chat ----

sayForm.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!session?.welcomed) return;
  const text = input.value;
  if (text.trim() === "") return;
  chat.send(text);
  input.value = "";
});

input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sayForm.requestSubmit();
  }
});

function joinRoom(): void {
  const room = joinInput.value.trim();
  if (!room || !session?.welcomed) return;
  chat.join(room);
  joinInput.value = "";
}
joinButton.addEventListener("click", joinRoom);
joinInput.addEventListener("keydown", (e) => {
  if (e.key === "Enter") {
    e.preventDefault();
    joinRoom();
  }
});
leaveButton.addEventListener("click", () => chat.leave());

// ---- files ----

function showFilesTarget(c: Conv): void {
  filesTarget.replaceChildren();
  filesTarget.classList.toggle("warning", c.kind === "all");
  if (c.kind === "all") {
    filesTarget.append("Files cannot go to everyone: choose a person or a room first, then pick or drop files.");
  } else if (c.kind === "room") {
    const b = document.createElement("bdi");
    b.textContent = c.key;
    filesTarget.append("Files go to the members of ", b, ": the server keeps them and offers them to each member.");
  } else {
    const b = document.createElement("bdi");
    b.textContent = c.key;
    filesTarget.append("Files go to ", b, chat.isOnline(c.key) ? "." : " (not online: the server keeps them for a registered name).");
  }
}

function sendFiles(files: Outbound[]): void {
  if (files.length === 0) return;
  const c = chat.selectedConv;
  if (!session?.welcomed) return;
  if (c.kind === "all") {
    chat.say("Choose a person or a room to send files to: the everyone conversation does not take files.");
    return;
  }
  transfers.send(files, c.key);
}

function picked(el: HTMLInputElement): void {
  const files = [...(el.files ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
  el.value = "";
  sendFiles(files);
}
fileInput.addEventListener("change", () => picked(fileInput));
folderInput.addEventListener("change", () => picked(folderInput));

function readEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  return new Promise((resolve, reject) => {
    const more = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          more();
        }
      }, reject);
    more();
  });
}

async function collect(entry: FileSystemEntry, out: Outbound[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\/+/, "") });
  } else if (entry.isDirectory) {
    for (const child of await readEntries(entry as FileSystemDirectoryEntry)) await collect(child, out);
  }
}

async function dropped(dt: DataTransfer): Promise<void> {
  // Entries must be taken while the event is being dispatched; reading them may wait.
  const items = [...dt.items].filter((i) => i.kind === "file");
  const entries = items.map((i) => (typeof i.webkitGetAsEntry === "function" ? i.webkitGetAsEntry() : null));
  const plain = [...dt.files];
  const out: Outbound[] = [];
  if (entries.length > 0 && entries.every((e) => e !== null)) {
    try {
      for (const e of entries) await collect(e!, out);
    } catch (err) {
      chat.say(`could not read what was dropped: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
  } else {
    out.push(...plain.map((file) => ({ file, path: file.name })));
  }
  sendFiles(out);
}

let dragDepth = 0;
document.addEventListener("dragenter", (e) => {
  if (!e.dataTransfer?.types.includes("Files")) return;
  e.preventDefault();
  dragDepth++;
  drop.classList.add("dragging");
});
document.addEventListener("dragleave", () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    drop.classList.remove("dragging");
  }
});
document.addEventListener("dragover", (e) => {
  if (!e.dataTransfer?.types.includes("Files")) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = session?.welcomed ? "copy" : "none";
});
document.addEventListener("drop", (e) => {
  if (!e.dataTransfer?.types.includes("Files")) return;
  e.preventDefault();
  dragDepth = 0;
  drop.classList.remove("dragging");
  void dropped(e.dataTransfer);
});

// ---- page ----

window.addEventListener("pagehide", () => session?.leave("page closed"));

let described = 0;

/** Says, in #browser-limits, what this page cannot do and where received files go (which route, and what it means). */
async function describeLimits(): Promise<void> {
  const call = ++described;
  const lines = [
    "A transfer interrupted by a reload or a lost connection cannot be resumed from this page: start it again.",
    "This page cannot receive a folder as one transfer (offers of a whole folder are refused: send its files one by one).",
  ];
  const route = currentRoute();
  const noStream = whyNoStreaming() ?? "This page cannot stream downloads";
  if (route === "stream") {
    lines.push("Received files stream straight into your browser's downloads as they arrive; nothing is kept in "
      + "memory.");
  } else if (route === "storage") {
    let room = "";
    const r = storageReady() ? await storageRoom() : undefined;
    if (r) room = ` (${r.atLeast ? "the browser says it has at least" : "it has about"} ${formatBytes(r.bytes)} now)`;
    lines.push(`${noStream}: received files are written to the browser's private storage and offered as a `
      + `download once verified; nothing is kept in memory. An offer is refused when that storage has no room for `
      + `it${room}. The copies stay there until this page is next opened.`);
  } else {
    lines.push(`${noStream}, and ${whyNoStorage() ?? "it cannot use the browser's private storage"}: received `
      + "files are kept in memory until they are verified, and offers of files above 256 MiB are refused.");
  }
  if (call !== described) return;
  limits.replaceChildren(...lines.map((l) => {
    const p = document.createElement("p");
    p.textContent = l;
    return p;
  }));
}

nameInput.value = storage()?.getItem(NAME_STORE) ?? "";
void describeLimits();
onRouteChange(() => void describeLimits());
void registerServiceWorker();
void openStore(); // also removes the files received on earlier visits
warmHasher();
showSignIn("");
if (nameInput.value) tokenInput.focus();
