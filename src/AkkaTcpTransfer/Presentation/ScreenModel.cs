using System.Globalization;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Text;

namespace AkkaTcpTransfer.Presentation;

/// <summary>What a person's screen shows, folded from a node's events, with no terminal in sight: the conversations (the
/// server-wide room and each room this client is in, each with its log and a count of lines not yet seen), one row per
/// transfer (a folder's files together in one row), the offers waiting for a decision (a folder is one), and a status
/// line. The terminal UI copies it into widgets; the line-mode console draws its rows as progress lines. Pure and
/// single-threaded: <see cref="Apply"/>, <see cref="Tick"/> and <see cref="View"/> on one thread, then read (only
/// <see cref="RoomInView"/> and <see cref="IsMember"/> may be read from another).</summary>
internal sealed class ScreenModel
{
    /// <summary>Rates are measured over at least this long (consecutive events can come in bunches).</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(1);

    /// <summary>A folder row is done once none of its files has moved for this long and none is in flight (its sender
    /// offers a few at a time, so a pause between files is normal).</summary>
    public static readonly TimeSpan FolderSettles = TimeSpan.FromSeconds(2);

    /// <summary>Finished rows stay this long, then go (their outcome is in the log).</summary>
    public static readonly TimeSpan FinishedRowsLinger = TimeSpan.FromSeconds(5);

    /// <summary><see cref="History"/>: a line said earlier (on joining, on connecting, or paged with /history), at the
    /// time it was said; <see cref="Separator"/>: where a conversation's history ends.</summary>
    public enum LineKind { Chat, Own, Direct, Notice, Error, History, Separator }

    public sealed record LogLine(DateTimeOffset At, LineKind Kind, string Text);

    /// <summary>One conversation: <paramref name="Room"/> null for the server-wide room, else a room this client is in
    /// (as the room spells it). <paramref name="Unread"/>: lines from others that came while another was in view.</summary>
    public sealed record ConversationInfo(string? Room, int Unread, string Topic);

    /// <summary>Where a reader of the log in view is: which arrangement of which conversation it holds, and how many
    /// lines have been added at its end (see <see cref="LinesSince"/>).</summary>
    public readonly record struct LogMark(long Version, long Appended);

    public enum RowState { Waiting, Offered, Moving, Done, Failed }

    /// <summary>One row of the transfers panel.</summary>
    public sealed record TransferRow(string Key, string Label, TransferDirection Direction, string Peer, long Bytes, long Total,
        double Rate, TimeSpan? Eta, RowState State, string StateText, int Files)
    {
        public double Fraction => Total <= 0 ? (State == RowState.Done ? 1 : 0) : Math.Clamp((double)Bytes / Total, 0, 1);
    }

    /// <summary>An offer (a file, or a folder's files from one peer) waiting for this person's decision.
    /// <paramref name="Id"/> is the id to accept or reject: for a folder, any of its files decides the folder.</summary>
    public sealed record OfferPrompt(string Id, string Label, string From, int Files, long Bytes);

    private sealed class FileState
    {
        public required string Id { get; init; }
        public required string File { get; init; }
        public long Bytes { get; set; }
        public long Total { get; set; }
        public bool Finished { get; set; }
        public bool Failed { get; set; }
        public bool Offered { get; set; }
        /// <summary>Files it carries: 1, or for a folder sent as one transfer ("album/") its count once it completed.</summary>
        public int Count { get; set; } = 1;
        /// <summary>A folder's files in one stream, not yet counted.</summary>
        public bool Uncounted => !Finished && File.EndsWith('/');
    }

    private sealed class Row
    {
        public required string Key { get; init; }
        public required string Label { get; init; }
        public required bool Folder { get; init; }
        public required TransferDirection Direction { get; init; }
        public required string Peer { get; init; }
        public Dictionary<string, FileState> Files { get; } = [];
        public Queue<(DateTimeOffset At, long Bytes)> Samples { get; } = new();
        public DateTimeOffset LastActivity { get; set; }
        public DateTimeOffset? FinishedAt { get; set; }
        public string? Failure { get; set; }
        public bool Waiting { get; set; }
        /// <summary>How a kept file's delivery to one recipient ended, when not delivered (shown instead of "failed").</summary>
        public string? Outcome { get; set; }
        public long Bytes => Files.Values.Sum(f => f.Bytes);
        public long Total => Files.Values.Sum(f => f.Total);
        public bool InFlight => Files.Values.Any(f => !f.Finished);
    }

    /// <summary>The server-wide room, or a room: its own log, bounded, in the order lines came, except that history is
    /// placed by the time it was said.</summary>
    private sealed class Conversation(string? room, long version)
    {
        public string? Room { get; set; } = room;
        /// <summary>The form rooms are compared in ("#Rust" and "#rust" are one room); empty for the server-wide room.</summary>
        public string Key { get; } = room is null ? "" : RoomKey(room);
        public string Topic { get; set; } = "";
        public List<LogLine> Lines { get; } = [];
        public int Unread { get; set; }
        /// <summary>Lines added at the end since the conversation began: a reader remembers it to take only new lines.</summary>
        public long Appended { get; set; }
        /// <summary>Changes whenever lines are placed among the old ones (history), so that a reader starts over; unique
        /// across conversations, so that it also tells them apart.</summary>
        public long Version { get; set; } = version;
        /// <summary>History lines placed since the last run of history ended.</summary>
        public int HistoryRun { get; set; }
        public LogLine? Separator { get; set; }
    }

    private readonly int _maxLog;
    private readonly bool _asks;
    private readonly Conversation _everyone;
    /// <summary>The rooms this client is in, in the order it joined them: the order the rooms list shows.</summary>
    private readonly List<Conversation> _rooms = [];
    /// <summary>Rooms named by the last room listing (/rooms): with the rooms joined, what completion offers.</summary>
    private readonly List<string> _listed = [];
    private Conversation _view;
    private long _versions;
    // Read by the UI thread too (typed text goes to the room in view): immutable values, replaced whole.
    private volatile string? _roomInView;
    private volatile string[] _joined = [];
    private readonly Dictionary<string, Row> _rows = [];
    private readonly Dictionary<string, string> _rowOf = []; // transfer id -> row key
    private readonly SortedSet<string> _peers = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="asks">This node asks before receiving (auto-accept off): offers become prompts.</param>
    public ScreenModel(string me, bool asks, int maxLog = 2000)
    {
        Me = me;
        _asks = asks;
        _maxLog = maxLog;
        _everyone = new Conversation(null, ++_versions);
        _view = _everyone;
    }

    public string Me { get; private set; }
    public string? Server { get; private set; }
    public string Connection { get; private set; } = "connecting";
    public bool Encrypted { get; private set; }
    /// <summary>The log of the conversation in view.</summary>
    public IReadOnlyList<LogLine> Log => _view.Lines;
    public IReadOnlyCollection<string> Peers => _peers;

    /// <summary>The log of <paramref name="room"/> (null: the server-wide room); empty for a room this client is not in.</summary>
    public IReadOnlyList<LogLine> LogOf(string? room) => (room is null ? _everyone : RoomOf(room))?.Lines ?? [];

    /// <summary>The room whose conversation the screen shows ("#name", as the room spells it), or null for the
    /// server-wide room: where plain text goes, and what /leave, /members, /topic and /history mean without a room.
    /// Changed by <see cref="View"/>; safe to read from any thread.</summary>
    public string? RoomInView => _roomInView;

    /// <summary>Whether this client is in <paramref name="room"/> (however it is spelt). Safe to call from any thread.</summary>
    public bool IsMember(string room)
    {
        ArgumentNullException.ThrowIfNull(room);
        var key = RoomKey(room);
        return Array.Exists(_joined, r => RoomKey(r) == key);
    }

    /// <summary>The server-wide room first, then the rooms in the order they were joined.</summary>
    public IReadOnlyList<ConversationInfo> Conversations =>
        [new ConversationInfo(null, _everyone.Unread, ""), .. _rooms.Select(r => new ConversationInfo(r.Room, r.Unread, r.Topic))];

    /// <summary>The rooms joined and those of the last listing, for completion.</summary>
    public IReadOnlyList<string> KnownRooms =>
        [.. _rooms.Select(r => r.Room!).Concat(_listed).DistinctBy(RoomKey)];

    /// <summary>Shows the conversation of <paramref name="room"/> (null: the server-wide room); its lines count as seen.
    /// False (and nothing changes) for a room this client is not in.</summary>
    public bool View(string? room)
    {
        if ((room is null ? _everyone : RoomOf(room)) is not { } conversation) return false;
        Show(conversation);
        return true;
    }

    /// <summary>Shows the conversation <paramref name="step"/> places after the one in view (before it when negative),
    /// round the list.</summary>
    public void ViewNext(int step)
    {
        List<Conversation> all = [_everyone, .. _rooms];
        var at = all.IndexOf(_view);
        Show(all[(((at + step) % all.Count) + all.Count) % all.Count]);
    }

    private void Show(Conversation conversation)
    {
        _view = conversation;
        conversation.Unread = 0;
        _roomInView = conversation.Room;
        Dirty = true;
    }

    /// <summary>Changed since <see cref="Dirty"/> was last cleared.</summary>
    public bool Dirty { get; set; }

    public IReadOnlyList<TransferRow> Transfers(DateTimeOffset now) =>
        [.. _rows.Values.OrderBy(r => r.FinishedAt is null ? 0 : 1).ThenBy(r => r.Label, StringComparer.Ordinal).Select(r => Snapshot(r, now))];

    /// <summary>The row a transfer is shown in (its own, or its folder's), or null.</summary>
    public TransferRow? RowOf(string id, DateTimeOffset now) =>
        _rowOf.TryGetValue(id, out var key) && _rows.TryGetValue(key, out var row) ? Snapshot(row, now) : null;

    public IReadOnlyList<OfferPrompt> Offers =>
        [.. _rows.Values.Where(r => r.Direction == TransferDirection.Receive && r.FinishedAt is null && r.Files.Values.Any(f => f.Offered))
            .Select(r => new OfferPrompt(r.Files.Values.First(f => f.Offered).Id, r.Label, r.Peer, r.Files.Count, r.Total))];

    /// <summary>This node's chat lines waiting to leave at the server's pace (a paste), as last reported.</summary>
    public int QueuedLines { get; private set; }

    /// <summary>One line for the status bar.</summary>
    public string Status =>
        $"{Me} @ {Server ?? "?"} · {Connection}{(Encrypted ? " · TLS" : "")}{(QueuedLines > 0 ? $" · {QueuedLines} line(s) queued" : "")} · {_peers.Count} online" +
        (_peers.Count > 0 ? ": " + string.Join(", ", _peers.Take(12)) + (_peers.Count > 12 ? ", …" : "") : "");

    public void Apply(NodeEvent e, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(e);
        Dirty = true;
        switch (e)
        {
            case Listening l:
                Server = $"{l.Host}:{l.Port}";
                Connection = "listening";
                Encrypted = l.Fingerprint is not null;
                Add(_view, now, LineKind.Notice, l.Fingerprint is null
                    ? $"listening on {l.Host}:{l.Port} WITHOUT TLS"
                    : $"listening on {l.Host}:{l.Port}; key fingerprint {l.Fingerprint}");
                if (HumanEventFormatter.Reach(l) is { Length: > 0 } reach) Add(_view, now, LineKind.Notice, reach.Trim());
                break;
            case WebListening web:
                Add(_view, now, LineKind.Notice, $"web client at {web.Url}");
                break;
            case Connected c:
                Server = c.Server;
                Me = c.Name;
                Connection = "online";
                Encrypted = c.Fingerprint is not null;
                _peers.Clear();
                foreach (var p in c.Online ?? []) if (!p.Equals(c.Name, StringComparison.OrdinalIgnoreCase)) _peers.Add(p);
                Add(_view, now, LineKind.Notice, $"connected to {c.Server} as {c.Name}{(c.Fingerprint is null ? " WITHOUT TLS" : "")}");
                break;
            case Disconnected d:
                Connection = d.WillReconnect ? "reconnecting" : "offline";
                _peers.Clear();
                Add(_view, now, LineKind.Error, $"disconnected: {d.Reason}{(d.WillReconnect ? " (reconnecting)" : "")}");
                break;
            case ConnectionRefused r:
                Connection = "refused";
                Add(_view, now, LineKind.Error, r.Reason);
                break;
            case PeerJoined j:
                _peers.Add(j.Name);
                Add(_everyone, now, LineKind.Notice, $"{j.Name} joined");
                break;
            case PeerLeft l:
                _peers.Remove(l.Name);
                Add(_everyone, now, LineKind.Notice, $"{l.Name} left");
                break;
            case WhoListed w:
                _peers.Clear();
                foreach (var n in w.Names) if (!n.Equals(Me, StringComparison.OrdinalIgnoreCase)) _peers.Add(n);
                Add(_view, now, LineKind.Notice, $"online: {string.Join(", ", w.Names)}");
                break;
            case ChatReceived c:
                if (c.To is null) Add(_everyone, c.At, LineKind.Chat, $"<{c.From}> {c.Text}", unread: true);
                else if (RoomOf(c.To) is { } room) Add(room, c.At, LineKind.Chat, $"<{c.From}> {c.Text}", unread: true);
                else Direct(c.At, LineKind.Direct, $"<{c.From} → {c.To}> {c.Text}");
                break;
            case ChatSent s:
                if (s.To is null) Add(_everyone, s.At, LineKind.Own, $"<{Me}> {s.Text}");
                else if (RoomOf(s.To) is { } room) Add(room, s.At, LineKind.Own, $"<{Me}> {s.Text}");
                else Direct(s.At, LineKind.Own, $"<{Me} → {s.To}> {s.Text}{(s.Held ? $" ({s.To} is offline: kept for their next visit)" : "")}");
                break;
            case ChatNotSent n:
                Add(_view, now, LineKind.Error, $"not sent{(n.To is null ? "" : $" to {n.To}")}: \"{HumanEventFormatter.Excerpt(n.Text)}\": {n.Reason}");
                break;
            case ChatQueue q:
                QueuedLines = q.Waiting;
                break;
            case ErrorOccurred err:
                Add(_view, now, LineKind.Error, err.Message);
                break;
            case ServerPinned p:
                Add(_view, now, LineKind.Notice, $"pinned {p.Server}'s key {p.Fingerprint} in {p.File}");
                break;
            case JoinedRoom j:
            {
                var room = RoomOf(j.Room);
                if (room is null)
                {
                    room = new Conversation(j.Room, ++_versions);
                    _rooms.Add(room);
                    _joined = [.. _rooms.Select(r => r.Room!)];
                }
                room.Room = j.Room;
                room.Topic = Safe(j.Topic);
                Add(room, now, LineKind.Notice, $"{(j.Rejoined ? "back in" : "joined")} {j.Room} ({j.Members} member{(j.Members == 1 ? "" : "s")})"
                    + (j.Topic.Length > 0 ? $": {j.Topic}" : ""));
                // The person asked to join, so the room comes into view, as in any chat tool; back in a room after a
                // reconnection, the view stays where the person left it.
                if (!j.Rejoined) Show(room);
                break;
            }
            case LeftRoom l:
                if (RoomOf(l.Room) is { } left)
                {
                    _rooms.Remove(left);
                    _joined = [.. _rooms.Select(r => r.Room!)];
                    if (_view == left) Show(_everyone);
                }
                Add(_view, now, LineKind.Notice, $"left {l.Room}: {l.Reason}");
                break;
            case RoomRequestRefused r:
                Add(_view, now, LineKind.Error, $"{r.Room}: {r.Reason}");
                break;
            case RoomsListed l:
                _listed.Clear();
                _listed.AddRange(l.Rooms.Select(r => r.Room));
                if (l.Rooms.Count == 0) Add(_view, now, LineKind.Notice, "no rooms yet (/join #name makes one)");
                else Add(_view, now, LineKind.Notice, "rooms:");
                foreach (var r in l.Rooms)
                    Add(_view, now, LineKind.Notice, $"  {r.Room} ({r.Members} member{(r.Members == 1 ? "" : "s")}){(r.Topic.Length > 0 ? ": " + r.Topic : "")}");
                break;
            case MembersListed m:
                Add(_view, now, LineKind.Notice, $"{m.Room}: {string.Join(", ", m.Members.Select(x => x.Online ? x.Name : x.Name + " (away)"))}");
                break;
            case TopicChanged t:
                if (RoomOf(t.Room) is { } topical)
                {
                    topical.Topic = Safe(t.Topic);
                    Add(topical, t.At, LineKind.Notice, t.Topic.Length == 0 ? $"{t.By} cleared the topic" : $"{t.By} set the topic: {t.Topic}");
                }
                break;
            case MemberJoinedRoom j:
                if (RoomOf(j.Room) is { } joined) Add(joined, now, LineKind.Notice, $"{j.Name} joined {joined.Room}");
                break;
            case MemberLeftRoom l:
                if (RoomOf(l.Room) is { } parted) Add(parted, now, LineKind.Notice, $"{l.Name} left {parted.Room}");
                break;
            case HistoryLine h:
                if (h.To is null) History(_everyone, new LogLine(h.At, LineKind.History, Safe($"<{h.From}> {h.Text}")));
                else if (RoomOf(h.To) is { } room) History(room, new LogLine(h.At, LineKind.History, Safe($"<{h.From}> {h.Text}")));
                else
                {
                    // A direct message kept while this client was away: shown as direct messages are.
                    var line = new LogLine(h.At, LineKind.History, Safe($"<{h.From} → {h.To}> {h.Text}"));
                    History(_everyone, line);
                    if (_view != _everyone) History(_view, line);
                }
                break;
            case HistoryEnded ended:
                EndHistory(ended.Target is null ? _everyone : RoomOf(ended.Target) ?? _everyone, ended.More);
                break;
            case NameRegistration n:
                Add(_view, now, LineKind.Notice, $"name {n.Name}: {n.Reason}");
                break;
            case TransferHeld h:
                Add(_view, now, LineKind.Notice, $"{h.Id} kept by the server as {h.FileId} for {h.Recipients}: your part is done");
                break;
            case DeliveryChanged d:
                Deliver(d, now);
                break;
            case TransferWaiting w:
                File(w.Id, w.File, TransferDirection.Send, w.To, w.Size, now).Row.Waiting = true;
                break;
            case TransferOffered o:
            {
                var (row, file) = File(o.Id, o.File, TransferDirection.Receive, o.From, o.Size, now);
                file.Offered = _asks;
                if (_asks && row.Files.Count == 1)
                    Add(_view, now, LineKind.Notice, $"{o.From} offers {row.Label} ({Units.Bytes(o.Size)}{(row.Folder ? ", more may follow" : "")}): accept? (/accept {o.Id})");
                break;
            }
            case TransferStarted s:
            {
                var (row, file) = File(s.Id, s.File, s.Direction, s.Direction == TransferDirection.Send ? s.To : s.From, s.Size, now);
                file.Offered = false;
                row.Waiting = false;
                file.Bytes = s.Offset;
                if (row.Files.Count == 1 && !row.Folder)
                    Add(_view, now, LineKind.Notice, $"{(s.Direction == TransferDirection.Send ? "sending" : "receiving")} {row.Label} {(s.Direction == TransferDirection.Send ? "to" : "from")} {row.Peer} ({Units.Bytes(s.Size)}){(s.Offset > 0 ? $", resuming at {Units.Bytes(s.Offset)}" : "")}");
                break;
            }
            case TransferProgress p:
                if (Find(p.Id) is { } progressed)
                {
                    progressed.File.Bytes = p.Bytes;
                    progressed.File.Total = p.Total;
                    progressed.Row.LastActivity = now;
                }
                break;
            case TransferCompleted c:
                if (Find(c.Id) is { } done)
                {
                    done.File.Bytes = done.File.Total = c.Size;
                    done.File.Count = c.Files;
                    Finish(done.Row, done.File, now, failure: null);
                    if (!done.Row.Folder)
                        Add(_view, now, LineKind.Notice, $"{done.Row.Label} {(done.Row.Direction == TransferDirection.Send ? "sent to" : "received from")} {done.Row.Peer} ({Units.Bytes(c.Size)}, {c.Seconds:0.0} s, SHA-256 verified){(done.Row.Direction == TransferDirection.Receive ? $": {c.Path}" : "")}");
                }
                break;
            case TransferFailed f:
                if (Find(f.Id) is { } failed)
                {
                    Finish(failed.Row, failed.File, now, f.Reason);
                    Add(_view, now, LineKind.Error, $"{f.File}: {f.Reason}");
                }
                break;
            case TransferCancelled c:
                if (Find(c.Id) is { } cancelled)
                {
                    Finish(cancelled.Row, cancelled.File, now, $"cancelled by {c.By}");
                    Add(_view, now, LineKind.Notice, $"{c.File} cancelled by {c.By}");
                }
                break;
        }
    }

    /// <summary>Time passes: folders settle into done, finished rows go. Returns whether anything changed.</summary>
    public bool Tick(DateTimeOffset now)
    {
        var changed = false;
        foreach (var row in _rows.Values.ToList())
        {
            if (row.FinishedAt is null && row.Folder && !row.InFlight && now - row.LastActivity >= FolderSettles)
            {
                FinishFolder(row, now);
                changed = true;
            }
            if (row.FinishedAt is { } at && now - at >= FinishedRowsLinger)
            {
                _rows.Remove(row.Key);
                foreach (var id in row.Files.Keys) _rowOf.Remove(id);
                changed = true;
            }
        }
        if (changed) Dirty = true;
        return changed;
    }

    /// <summary>Folders with nothing in flight are done now, without waiting for them to settle: for a node that is about
    /// to stop (or a step that is over), so that what it prints last is how each folder ended. Returns whether any was.</summary>
    public bool Settle(DateTimeOffset now)
    {
        var changed = false;
        foreach (var row in _rows.Values.Where(r => r.FinishedAt is null && r.Folder && !r.InFlight).ToList())
        {
            FinishFolder(row, now);
            changed = true;
        }
        if (changed) Dirty = true;
        return changed;
    }

    /// <summary>A kept file, for one recipient: a row of its own (the file, to whom, its progress), and a line when it
    /// ends. Rows of a kept file are keyed by its id and the recipient, so a change told again (on reconnecting) lands
    /// on the same row.</summary>
    private void Deliver(DeliveryChanged d, DateTimeOffset now)
    {
        var id = $"@{d.FileId}/{d.To}";
        var known = Find(id);
        if (known is { Row.FinishedAt: not null }) return; // told again on reconnecting: shown already
        var (row, file) = known ?? File(id, d.File, TransferDirection.Send, d.To, d.Size, now);
        file.Bytes = d.Bytes;
        row.LastActivity = now;
        switch (d.State)
        {
            case DeliveryStatus.Waiting or DeliveryStatus.Offered:
                row.Waiting = true;
                break;
            case DeliveryStatus.Receiving:
                row.Waiting = false;
                break;
            case DeliveryStatus.Delivered:
                file.Bytes = d.Size;
                Finish(row, file, now, failure: null);
                Add(_view, now, LineKind.Notice, $"{d.File} delivered to {d.To} (kept by the server as {d.FileId})");
                break;
            default:
                var word = HumanEventFormatter.DeliveryWord(d.State);
                row.Outcome = d.Reason.Length > 0 ? $"{word}: {d.Reason}" : word;
                Finish(row, file, now, row.Outcome);
                Add(_view, now, LineKind.Error, $"{d.File} for {d.To}: {row.Outcome}");
                break;
        }
    }

    private void FinishFolder(Row row, DateTimeOffset now)
    {
        row.FinishedAt = now;
        var failed = row.Files.Values.Where(f => f.Failed).Sum(f => f.Count);
        var count = row.Files.Values.Sum(f => f.Count);
        var verb = row.Direction == TransferDirection.Send ? "sent to" : "received from";
        Add(_view, now, failed == 0 ? LineKind.Notice : LineKind.Error,
            $"{row.Label} {verb} {row.Peer}: {count - failed} of {count} files ({Units.Bytes(row.Total)}){(failed > 0 ? $", {failed} failed" : "")}");
    }

    private (Row Row, FileState File) File(string id, string file, TransferDirection direction, string peer, long size, DateTimeOffset now)
    {
        if (Find(id) is { } known) return known;
        var folder = TransfersActor.TopFolder(file);
        var key = folder is null ? id : $"{(direction == TransferDirection.Send ? ">" : "<")}{peer}/{folder}";
        if (!_rows.TryGetValue(key, out var row) || row.FinishedAt is not null)
        {
            if (row is not null) foreach (var old in row.Files.Keys) _rowOf.Remove(old);
            row = new Row { Key = key, Label = folder is null ? file : folder + "/", Folder = folder is not null, Direction = direction, Peer = peer };
            _rows[key] = row;
        }
        var state = new FileState { Id = id, File = file, Total = size };
        row.Files[id] = state;
        row.LastActivity = now;
        _rowOf[id] = key;
        return (row, state);
    }

    private (Row Row, FileState File)? Find(string id) =>
        _rowOf.TryGetValue(id, out var key) && _rows.TryGetValue(key, out var row) && row.Files.TryGetValue(id, out var file) ? (row, file) : null;

    private static void Finish(Row row, FileState file, DateTimeOffset now, string? failure)
    {
        file.Finished = true;
        file.Offered = false;
        file.Failed = failure is not null;
        row.LastActivity = now;
        row.Waiting = false;
        if (failure is not null) row.Failure = failure;
        // A single file is done at once; a folder when it settles (Tick).
        if (!row.Folder) row.FinishedAt = now;
    }

    private static TransferRow Snapshot(Row row, DateTimeOffset now)
    {
        var bytes = row.Bytes;
        // Rate over at least RateWindow: the oldest sample at least that old, the others dropped.
        row.Samples.Enqueue((now, bytes));
        while (row.Samples.Count > 2 && now - row.Samples.ElementAt(1).At >= RateWindow) row.Samples.Dequeue();
        var (then, thenBytes) = row.Samples.Peek();
        var span = now - then;
        var rate = span >= RateWindow ? (bytes - thenBytes) / span.TotalSeconds : 0;
        var total = row.Total;
        TimeSpan? eta = rate > 0 && total > bytes ? TimeSpan.FromSeconds((total - bytes) / rate) : null;
        var files = row.Files.Values.Sum(f => f.Count);
        var finished = row.Files.Values.Where(f => f.Finished).Sum(f => f.Count);
        var failed = row.Files.Values.Where(f => f.Failed).Sum(f => f.Count);
        RowState state;
        string text;
        if (row.FinishedAt is not null)
        {
            state = failed > 0 ? RowState.Failed : RowState.Done;
            text = failed == 0 ? "done" : row.Outcome ?? (row.Folder ? $"{failed} failed" : $"failed: {row.Failure}");
        }
        else if (row.Files.Values.Any(f => f.Offered) && finished == 0 && bytes == 0)
        {
            state = RowState.Offered;
            text = $"offered by {row.Peer}: accept?";
        }
        else if (row.Waiting && bytes == 0)
        {
            state = RowState.Waiting;
            text = $"waiting for {row.Peer}";
        }
        else
        {
            state = RowState.Moving;
            // A folder's small files travel in one stream, counted when it lands: until then the total is not known.
            text = row.Folder ? $"{finished}/{(row.Files.Values.Any(f => f.Uncounted) ? "…" : files.ToString(System.Globalization.CultureInfo.InvariantCulture))} files"
                : row.Direction == TransferDirection.Send ? $"to {row.Peer}" : $"from {row.Peer}";
        }
        return new TransferRow(row.Key, row.Label, row.Direction, row.Peer, bytes, total, rate, eta, state, text, files);
    }

    /// <summary>Where a reader that has taken everything of the conversation in view now is.</summary>
    public LogMark Mark => new(_view.Version, _view.Appended);

    /// <summary>What a reader at <paramref name="seen"/> lacks of the conversation in view: the lines added at its end
    /// since, or, when <paramref name="Whole"/>, all of its lines (another conversation came into view, or history was
    /// placed among the lines it has); and where it then is.</summary>
    public (IReadOnlyList<LogLine> Lines, bool Whole, LogMark Mark) LinesSince(LogMark seen)
    {
        var lines = _view.Lines;
        if (seen.Version != _view.Version) return ([.. lines], true, Mark);
        var fresh = (int)Math.Min(lines.Count, _view.Appended - seen.Appended);
        return (fresh <= 0 ? [] : lines.GetRange(lines.Count - fresh, fresh), false, Mark);
    }

    /// <summary>The room of <paramref name="name"/> ("#name", however it is spelt) if this client is in it.</summary>
    private Conversation? RoomOf(string name)
    {
        if (!name.StartsWith('#')) return null;
        foreach (var room in _rooms)
            if (string.Equals(room.Room, name, StringComparison.OrdinalIgnoreCase)) return room;
        var key = RoomKey(name);
        return _rooms.Find(r => r.Key == key);
    }

    /// <summary>Rooms that look alike are one room (the server's rule): its key for a valid name, else the name.</summary>
    private static string RoomKey(string room) => RoomNames.Validate(room) is null ? RoomNames.Key(room) : room;

    private static string Safe(string text) => HumanEventFormatter.Safe(text);

    /// <summary>A line at the end of <paramref name="to"/>; <paramref name="unread"/>: one the person has not seen if
    /// another conversation is in view.</summary>
    private void Add(Conversation to, DateTimeOffset at, LineKind kind, string text, bool unread = false)
    {
        to.Lines.Add(new LogLine(at, kind, Safe(text)));
        to.Appended++;
        if (unread && to != _view) to.Unread++;
        Trim(to);
    }

    /// <summary>A direct message (received, sent, or kept while away) is the person's, not a room's: it is kept with
    /// the server-wide room, as always, and shown in the room in view as well, so that it is seen where the person is.</summary>
    private void Direct(DateTimeOffset at, LineKind kind, string text)
    {
        Add(_everyone, at, kind, text);
        if (_view != _everyone) Add(_view, at, kind, text);
    }

    /// <summary>A line said earlier: placed by the time it was said, after the lines no later than it (a room's recent
    /// lines come before what was said since joining; a page further back goes on top), and not at all when the
    /// conversation shows it already (its recent lines come again after each reconnection, and the person saw most of
    /// them live). Not counted as unread: it is not new.</summary>
    private void History(Conversation to, LogLine line)
    {
        var lines = to.Lines;
        if (lines.Exists(l => l.At == line.At && l.Kind is not (LineKind.Notice or LineKind.Error or LineKind.Separator) && l.Text == line.Text)) return;
        var at = lines.Count;
        while (at > 0 && lines[at - 1].At > line.At) at--;
        lines.Insert(at, line);
        to.HistoryRun++;
        if (at == lines.Count - 1) to.Appended++;
        else to.Version = ++_versions;
        Trim(to);
    }

    /// <summary>A run of history is over: one separator, after the newest history line, says where history ends and
    /// whether /history finds more.</summary>
    private void EndHistory(Conversation to, bool more)
    {
        if (to.HistoryRun == 0) return;
        to.HistoryRun = 0;
        var lines = to.Lines;
        if (to.Separator is { } old)
        {
            var was = lines.FindIndex(l => ReferenceEquals(l, old));
            if (was >= 0) lines.RemoveAt(was);
        }
        var last = lines.FindLastIndex(l => l.Kind == LineKind.History);
        if (last < 0) return;
        to.Separator = new LogLine(lines[last].At, LineKind.Separator, more ? "history above; /history shows earlier lines" : "history above; nothing earlier is kept");
        lines.Insert(last + 1, to.Separator);
        to.Version = ++_versions;
    }

    private void Trim(Conversation conversation)
    {
        if (conversation.Lines.Count > _maxLog) conversation.Lines.RemoveRange(0, conversation.Lines.Count - _maxLog);
    }

    /// <summary>"album/  [#########-----]  45%  1.2 GiB/2.6 GiB  85.0 MiB/s  ETA 0:02  3/9 files", cut to
    /// <paramref name="width"/> columns.</summary>
    public static string Render(TransferRow row, int width)
    {
        ArgumentNullException.ThrowIfNull(row);
        // Narrow terminals get a shorter name and bar, so that the percentage always shows.
        var bar = Math.Clamp(width / 5, 6, 30);
        var labelWidth = Math.Clamp(width / 3, 8, 28);
        var filled = (int)Math.Round(row.Fraction * bar);
        var eta = row.Eta is { } e ? Units.Duration(e.TotalSeconds) : "?";
        var label = row.Label.Length > labelWidth ? "…" + row.Label[^(labelWidth - 1)..] : row.Label.PadRight(labelWidth);
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{label} [{new string('#', filled)}{new string('-', bar - filled)}] {row.Fraction * 100,3:0}%  {Units.Bytes(row.Bytes)}/{Units.Bytes(row.Total)}  " +
            $"{(row.State == RowState.Moving ? $"{Units.Bytes((long)row.Rate)}/s  ETA {eta}  " : "")}{row.StateText}");
        return Fit(line, width);
    }

    /// <summary>Cuts a line to <paramref name="width"/> columns (at least 1), marking the cut with "…".</summary>
    public static string Fit(string line, int width)
    {
        ArgumentNullException.ThrowIfNull(line);
        width = Math.Max(1, width);
        return line.Length <= width ? line : line[..(width - 1)] + "…";
    }
}
