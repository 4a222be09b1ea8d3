// Conversations (the server-wide room "everyone", rooms, direct conversations), their lines, the online
// list, and what the person says. Own lines are pending until their SayAck, or refused.

import type { Chat as ChatFrame, ClientFrame, History, HistoryEnd, RoomJoined, Welcome } from "./codec";
import { $, bdi, button, el } from "./dom";
import { formatTime, visible } from "./format";
import type { BucketName, PacedItem } from "./pace";

export type ConvKind = "all" | "room" | "direct";

interface Msg {
  from: string;
  text: string;
  at: number | undefined;
  /** A history line's place in its conversation. */
  seq?: number;
  kind: "live" | "history" | "own";
  state: "pending" | "sent" | "refused" | "";
  reason?: string;
  note?: string;
  /** The Say left the page (else it still waited in our queue). */
  sent?: boolean;
  conv?: Conv;
  li?: HTMLLIElement;
}

export interface Conv {
  key: string;
  kind: ConvKind;
  msgs: Msg[];
  seen: Set<string>;
  unread: number;
  li: HTMLLIElement;
  badge: HTMLElement;
  topic: string;
  members: number;
  more: boolean;
  oldest: number;
  loading: boolean;
  /** The list on screen no longer matches msgs (insertions, removals). */
  stale: boolean;
}

export interface ChatHost {
  paced(bucket: BucketName, frame: ClientFrame, sent?: () => void): PacedItem;
  connected(): boolean;
  selected(conv: Conv): void;
  getFile(fileId: string): void;
}

const MAX_LINES = 2000;
const GET_FILE = /: \/get (\S+)$/;

export class Chat {
  private readonly convs = new Map<string, Conv>();
  private readonly list = $("conversations") as HTMLUListElement;
  private readonly messages = $("messages") as HTMLOListElement;
  private readonly onlineList = $("online") as HTMLUListElement;
  private readonly title = $("conv-title");
  private readonly topicLine = $("topic");
  private readonly olderButton = $("older") as HTMLButtonElement;
  private readonly leaveButton = $("leave") as HTMLButtonElement;
  private readonly notice = $("notice");
  private current!: Conv;
  private me = "";
  private serverName = "";
  private online: string[] = [];
  private nextSayId = 1;
  private readonly says = new Map<number, Msg>();
  private renderTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly joinsToSelect = new Set<string>();
  /** The room that was selected when the last session ended: selected again when it comes back. */
  private restore: string | undefined;

  constructor(private readonly host: ChatHost) {
    this.olderButton.addEventListener("click", () => this.loadOlder());
    this.messages.addEventListener("click", (e) => {
      const b = (e.target as Element).closest("button.get");
      const id = b?.getAttribute("data-file-id");
      if (id) this.host.getFile(id);
    });
    this.select(this.ensure("*", "all"));
  }

  get selectedConv(): Conv {
    return this.current;
  }

  /** A new session: rooms and the server-wide room are sent again with their history; direct ones stay. */
  start(w: Welcome): void {
    this.me = w.yourName;
    this.serverName = w.serverName;
    this.restore = this.current.kind === "room" ? this.current.key : undefined;
    for (const c of [...this.convs.values()]) {
      if (c.kind === "room") this.remove(c);
      else if (c.kind === "all") this.clear(c);
    }
    this.setOnline(w.online);
    this.select(this.convs.get(this.current.key) ?? this.ensure("*", "all"));
    this.say("");
  }

  /** The session ended: lines still unanswered are marked. */
  stop(reason: string): void {
    for (const [, m] of this.says) {
      m.state = "refused";
      m.reason = m.sent
        ? `no answer before the connection ended (${reason}): it may or may not have been delivered`
        : `not sent: the connection ended (${reason})`;
      this.update(m);
    }
    this.says.clear();
    this.joinsToSelect.clear();
  }

  say(text: string): void {
    this.notice.textContent = text;
  }

  // ---- conversations ----

  private ensure(key: string, kind: ConvKind): Conv {
    let c = this.convs.get(key);
    if (c) return c;
    const li = el("li");
    li.dataset["conv"] = key;
    const b = button("", "conv");
    const label = kind === "all" ? el("span", "label", "everyone") : bdi(key, "label");
    const badge = el("span", "unread");
    badge.hidden = true;
    b.append(label, badge);
    li.append(b);
    c = {
      key, kind, msgs: [], seen: new Set(), unread: 0, li, badge, topic: "", members: 0, more: false, oldest: 0,
      loading: false, stale: true,
    };
    const conv = c;
    b.addEventListener("click", () => this.select(conv));
    this.convs.set(key, c);
    this.placeInList(c);
    return c;
  }

  /** everyone first, then rooms, then people, each in case-insensitive order. */
  private placeInList(c: Conv): void {
    const rank = (x: Conv) => (x.kind === "all" ? 0 : x.kind === "room" ? 1 : 2);
    const sorted = [...this.convs.values()].sort(
      (a, b) => rank(a) - rank(b) || a.key.localeCompare(b.key, undefined, { sensitivity: "base" }));
    const next = sorted[sorted.indexOf(c) + 1];
    this.list.insertBefore(c.li, next ? next.li : null);
  }

  private remove(c: Conv): void {
    this.convs.delete(c.key);
    c.li.remove();
    if (this.current === c) this.select(this.ensure("*", "all"));
  }

  private clear(c: Conv): void {
    c.msgs = [];
    c.seen.clear();
    c.unread = 0;
    c.more = false;
    c.oldest = 0;
    c.loading = false;
    c.stale = true;
    this.showUnread(c);
    if (this.current === c) this.renderSoon();
  }

  select(c: Conv): void {
    if (this.current) this.current.li.classList.remove("selected");
    this.current = c;
    c.li.classList.add("selected");
    c.li.querySelector("button")?.setAttribute("aria-current", "true");
    for (const o of this.convs.values()) if (o !== c) o.li.querySelector("button")?.removeAttribute("aria-current");
    c.unread = 0;
    this.showUnread(c);
    c.stale = true;
    this.renderNow();
    this.messages.scrollTop = this.messages.scrollHeight;
    this.showHead();
    this.host.selected(c);
  }

  openDirect(name: string): void {
    this.select(this.ensure(name, "direct"));
  }

  private showHead(): void {
    const c = this.current;
    this.title.replaceChildren();
    this.topicLine.replaceChildren();
    if (c.kind === "all") {
      this.title.append("everyone");
      this.topicLine.append("everyone on ", bdi(this.serverName || "the server"), " reads these lines");
    } else if (c.kind === "room") {
      this.title.append(bdi(c.key));
      if (c.topic) this.topicLine.append(bdi(c.topic, "topic-text"), " · ");
      this.topicLine.append(`${c.members} member${c.members === 1 ? "" : "s"}`);
    } else {
      this.title.append("with ", bdi(c.key));
      const on = this.online.includes(c.key);
      this.topicLine.append(on ? "online" : "not online: a registered name gets your lines when it comes back");
    }
    this.leaveButton.disabled = c.kind !== "room";
    this.olderButton.hidden = c.kind === "direct" || !c.more;
    this.olderButton.disabled = c.loading;
  }

  private showUnread(c: Conv): void {
    c.badge.hidden = c.unread === 0;
    c.badge.textContent = c.unread > 0 ? String(c.unread) : "";
  }

  /** The text a line to `c` is sent to. */
  private target(c: Conv): string {
    return c.kind === "all" ? "" : c.key;
  }

  private convFor(from: string, to: string): Conv {
    if (to === "") return this.ensure("*", "all");
    if (to.startsWith("#")) return this.ensure(to, "room");
    return this.ensure(from === this.me ? to : from, "direct");
  }

  // ---- lines ----

  private add(c: Conv, m: Msg): void {
    // A history line already shown (joining a room again, paging) is not shown twice: history lines
    // are known by their seq, live and own lines by sender, time and text.
    if (m.kind === "history") {
      const line = `${m.from}\n${m.at}\n${m.text}`;
      if (c.seen.has(`#${m.seq}`) || c.seen.has(line)) return;
      c.seen.add(`#${m.seq}`);
    } else if (m.kind === "live") {
      c.seen.add(`${m.from}\n${m.at}\n${m.text}`);
    }
    // Lines are kept in order (history by seq, the rest by time); pending own lines stay at the end.
    let i = c.msgs.length;
    if (m.at !== undefined) {
      while (i > 0) {
        const p = c.msgs[i - 1]!;
        if (p.at === undefined) {
          if (m.kind !== "history") break;
        } else if (p.seq !== undefined && m.seq !== undefined) {
          if (p.seq < m.seq) break;
        } else if (m.kind === "history" ? p.at < m.at : p.at <= m.at) {
          break;
        }
        i--;
      }
    }
    if (i === c.msgs.length) {
      c.msgs.push(m);
      if (c === this.current && !c.stale) {
        const stick = this.atBottom();
        this.messages.append(this.render(m));
        if (stick) this.messages.scrollTop = this.messages.scrollHeight;
      }
    } else {
      c.msgs.splice(i, 0, m);
      c.stale = true;
    }
    if (c.msgs.length > MAX_LINES) {
      for (const old of c.msgs.splice(0, c.msgs.length - MAX_LINES)) old.li?.remove();
      c.more = true;
    }
    if (c === this.current) {
      if (c.stale) this.renderSoon();
    } else if (m.kind === "live" || (m.kind === "history" && c.kind === "direct")) {
      c.unread++;
      this.showUnread(c);
    }
  }

  chat(f: ChatFrame): void {
    if (f.from === this.me && f.to === this.me) return; // our own line to ourselves: shown already
    this.add(this.convFor(f.from, f.to), { from: f.from, text: f.text, at: f.at, kind: "live", state: "" });
  }

  history(f: History): void {
    this.add(this.convFor(f.from, f.to), { from: f.from, text: f.text, at: f.at, seq: f.seq, kind: "history", state: "" });
  }

  historyEnd(f: HistoryEnd): void {
    if (f.target === this.me || (f.target !== "" && !f.target.startsWith("#"))) return; // direct: not paged
    const c = f.target === "" ? this.ensure("*", "all") : this.convs.get(f.target);
    if (!c) return;
    if (c.loading || c.oldest === 0 || f.oldest < c.oldest) {
      c.oldest = f.oldest;
      c.more = f.more;
    }
    c.loading = false;
    if (c === this.current) this.showHead();
  }

  private loadOlder(): void {
    const c = this.current;
    if (c.kind === "direct" || !c.more || c.loading || !this.host.connected()) return;
    c.loading = true;
    this.showHead();
    this.host.paced("history", { type: "HistoryRequest", target: this.target(c), before: c.oldest, count: 100 });
  }

  /** Sends what was typed: one Say per line, paced; an empty line is skipped. */
  send(text: string): void {
    const c = this.current;
    const to = this.target(c);
    for (const line of text.split(/\r\n|\r|\n/)) {
      if (line === "") continue;
      const id = this.nextSayId;
      this.nextSayId = this.nextSayId >= 0xffffffff ? 1 : this.nextSayId + 1;
      const m: Msg = { from: this.me, text: line, at: undefined, kind: "own", state: "pending", conv: c };
      this.add(c, m);
      try {
        this.host.paced("chat", { type: "Say", id, to, text: line }, () => {
          m.sent = true;
        });
        this.says.set(id, m);
      } catch {
        m.state = "refused";
        m.reason = "not sent: longer than the server takes in one frame";
        this.update(m);
      }
    }
  }

  sayAck(id: number, at: number, held: boolean): void {
    const m = this.says.get(id);
    if (!m) return;
    this.says.delete(id);
    m.state = "sent";
    m.at = at;
    // The same line may come back as history (joining a room again): it is not shown twice.
    m.conv?.seen.add(`${m.from}\n${at}\n${m.text}`);
    if (held) m.note = "kept for them until they come back";
    this.update(m);
  }

  sayRefused(id: number, code: number, reason: string): void {
    const m = this.says.get(id);
    if (!m) return;
    this.says.delete(id);
    m.state = "refused";
    m.reason = `${reason} (code ${code})`;
    this.update(m);
  }

  private render(m: Msg): HTMLLIElement {
    if (m.li) return m.li;
    const li = el("li", "msg");
    li.dataset["from"] = m.from;
    const time = el("time", "at");
    const text = bdi(m.text, "text");
    li.append(time, bdi(m.from, "from"), text);
    const get = GET_FILE.exec(m.text);
    if (get && m.kind !== "own") {
      const b = button("get this file", "get");
      b.dataset["fileId"] = get[1]!;
      li.append(b);
    }
    m.li = li;
    this.fill(m);
    return li;
  }

  private fill(m: Msg): void {
    const li = m.li;
    if (!li) return;
    li.classList.toggle("history", m.kind === "history");
    li.classList.toggle("own", m.kind === "own" || m.from === this.me);
    li.classList.toggle("pending", m.state === "pending");
    li.classList.toggle("refused", m.state === "refused");
    const time = li.querySelector("time.at") as HTMLTimeElement;
    if (m.at !== undefined) {
      time.dateTime = new Date(m.at).toISOString();
      time.textContent = formatTime(m.at);
    }
    let reason = li.querySelector(".reason");
    if (m.state === "refused" && m.reason) {
      if (!reason) li.append((reason = el("span", "reason")));
      reason.textContent = visible(m.reason);
    } else reason?.remove();
    let note = li.querySelector(".note");
    if (m.note) {
      if (!note) li.append((note = el("span", "note")));
      note.textContent = m.note;
    }
  }

  private update(m: Msg): void {
    this.fill(m);
  }

  private atBottom(): boolean {
    const e = this.messages;
    return e.scrollTop + e.clientHeight >= e.scrollHeight - 40;
  }

  private renderSoon(): void {
    this.renderTimer ??= setTimeout(() => this.renderNow(), 30);
  }

  private renderNow(): void {
    if (this.renderTimer !== undefined) clearTimeout(this.renderTimer);
    this.renderTimer = undefined;
    const c = this.current;
    if (!c.stale) return;
    const stick = this.atBottom();
    this.messages.replaceChildren(...c.msgs.map((m) => this.render(m)));
    c.stale = false;
    if (stick) this.messages.scrollTop = this.messages.scrollHeight;
  }

  // ---- rooms ----

  join(name: string): void {
    const room = name.startsWith("#") ? name : `#${name}`;
    this.joinsToSelect.add(room.toLowerCase());
    this.host.paced("room", { type: "JoinRoom", room });
  }

  leave(): void {
    const c = this.current;
    if (c.kind !== "room") return;
    this.host.paced("room", { type: "LeaveRoom", room: c.key });
  }

  roomJoined(f: RoomJoined): void {
    const c = this.ensure(f.room, "room");
    c.topic = f.topic;
    c.members = f.members;
    const wanted = this.joinsToSelect.has(f.room.toLowerCase()) || this.joinsToSelect.size === 1;
    if ((!f.rejoined && wanted) || (f.rejoined && f.room === this.restore)) {
      this.joinsToSelect.clear();
      this.restore = undefined;
      this.select(c);
    } else if (c === this.current) this.showHead();
  }

  roomLeft(room: string, code: number, reason: string): void {
    const c = this.convs.get(room);
    if (code !== 0) this.say(`${room}: ${reason} (code ${code})`);
    if (c) this.remove(c);
  }

  roomRefused(room: string, code: number, reason: string): void {
    this.joinsToSelect.delete(room.toLowerCase());
    const c = this.convs.get(room);
    if (c?.loading) {
      c.loading = false;
      if (c === this.current) this.showHead();
    }
    this.say(`${room}: ${reason} (code ${code})`);
  }

  roomTopic(room: string, by: string, topic: string): void {
    const c = this.convs.get(room);
    if (!c) return;
    c.topic = topic;
    if (c === this.current) this.showHead();
    void by;
  }

  members(room: string, delta: number): void {
    const c = this.convs.get(room);
    if (!c) return;
    c.members = Math.max(0, c.members + delta);
    if (c === this.current) this.showHead();
  }

  // ---- who is online ----

  setOnline(names: string[]): void {
    this.online = [...names];
    this.renderOnline();
  }

  peerJoined(name: string): void {
    if (!this.online.includes(name)) this.online.push(name);
    this.renderOnline();
  }

  peerLeft(name: string): void {
    this.online = this.online.filter((n) => n !== name);
    this.renderOnline();
  }

  isOnline(name: string): boolean {
    return this.online.includes(name);
  }

  private renderOnline(): void {
    const more = this.online.filter((n) => /^\(\+\d+ more\)$/.test(n));
    const people = this.online
      .filter((n) => !more.includes(n))
      .sort((a, b) =>
        a === this.serverName ? -1 : b === this.serverName ? 1 : a.localeCompare(b, undefined, { sensitivity: "base" }));
    const items = people.map((name) => {
      const li = el("li");
      li.dataset["name"] = name;
      const b = button("", "person");
      b.append(bdi(name, "name"));
      if (name === this.me) b.append(el("span", "tag", "you"));
      else if (name === this.serverName) b.append(el("span", "tag", "the server"));
      b.addEventListener("click", () => this.openDirect(name));
      li.append(b);
      return li;
    });
    for (const m of more) items.push(el("li", "more", m));
    this.onlineList.replaceChildren(...items);
    if (this.current.kind === "direct") this.showHead();
  }
}
