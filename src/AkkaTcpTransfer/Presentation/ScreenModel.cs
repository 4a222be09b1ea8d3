using System.Globalization;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Text;

namespace AkkaTcpTransfer.Presentation;

/// <summary>What a person's screen shows, folded from a node's events, with no terminal in sight: the chat log, one row
/// per transfer (a folder's files together in one row), the offers waiting for a decision (a folder is one), and a
/// status line. The terminal UI copies it into widgets; the line-mode console draws its rows as progress lines. Pure
/// and single-threaded: <see cref="Apply"/> and <see cref="Tick"/> with the time, then read.</summary>
public sealed class ScreenModel
{
    /// <summary>Rates are measured over at least this long (consecutive events can come in bunches).</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(1);

    /// <summary>A folder row is done once none of its files has moved for this long and none is in flight (its sender
    /// offers a few at a time, so a pause between files is normal).</summary>
    public static readonly TimeSpan FolderSettles = TimeSpan.FromSeconds(2);

    /// <summary>Finished rows stay this long, then go (their outcome is in the log).</summary>
    public static readonly TimeSpan FinishedRowsLinger = TimeSpan.FromSeconds(5);

    public enum LineKind { Chat, Own, Direct, Notice, Error }

    public sealed record LogLine(DateTimeOffset At, LineKind Kind, string Text);

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
        public long Bytes => Files.Values.Sum(f => f.Bytes);
        public long Total => Files.Values.Sum(f => f.Total);
        public bool InFlight => Files.Values.Any(f => !f.Finished);
    }

    private readonly int _maxLog;
    private readonly bool _asks;
    private readonly List<LogLine> _log = [];
    private readonly Dictionary<string, Row> _rows = [];
    private readonly Dictionary<string, string> _rowOf = []; // transfer id -> row key
    private readonly SortedSet<string> _peers = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="asks">This node asks before receiving (auto-accept off): offers become prompts.</param>
    public ScreenModel(string me, bool asks, int maxLog = 2000)
    {
        Me = me;
        _asks = asks;
        _maxLog = maxLog;
    }

    public string Me { get; private set; }
    public string? Server { get; private set; }
    public string Connection { get; private set; } = "connecting";
    public bool Encrypted { get; private set; }
    public IReadOnlyList<LogLine> Log => _log;
    public IReadOnlyCollection<string> Peers => _peers;

    /// <summary>The room whose conversation the screen shows ("#name"), or null for the server-wide room: where plain
    /// text goes, and what /leave, /members, /topic and /history mean without a room.</summary>
    public string? RoomInView { get; set; }

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
                Add(now, LineKind.Notice, l.Fingerprint is null
                    ? $"listening on {l.Host}:{l.Port} WITHOUT TLS"
                    : $"listening on {l.Host}:{l.Port}; key fingerprint {l.Fingerprint}");
                if (HumanEventFormatter.Reach(l) is { Length: > 0 } reach) Add(now, LineKind.Notice, reach.Trim());
                break;
            case Connected c:
                Server = c.Server;
                Me = c.Name;
                Connection = "online";
                Encrypted = c.Fingerprint is not null;
                _peers.Clear();
                foreach (var p in c.Online ?? []) if (!p.Equals(c.Name, StringComparison.OrdinalIgnoreCase)) _peers.Add(p);
                Add(now, LineKind.Notice, $"connected to {c.Server} as {c.Name}{(c.Fingerprint is null ? " WITHOUT TLS" : "")}");
                break;
            case Disconnected d:
                Connection = d.WillReconnect ? "reconnecting" : "offline";
                _peers.Clear();
                Add(now, LineKind.Error, $"disconnected: {d.Reason}{(d.WillReconnect ? " (reconnecting)" : "")}");
                break;
            case ConnectionRefused r:
                Connection = "refused";
                Add(now, LineKind.Error, r.Reason);
                break;
            case PeerJoined j:
                _peers.Add(j.Name);
                Add(now, LineKind.Notice, $"{j.Name} joined");
                break;
            case PeerLeft l:
                _peers.Remove(l.Name);
                Add(now, LineKind.Notice, $"{l.Name} left");
                break;
            case WhoListed w:
                _peers.Clear();
                foreach (var n in w.Names) if (!n.Equals(Me, StringComparison.OrdinalIgnoreCase)) _peers.Add(n);
                Add(now, LineKind.Notice, $"online: {string.Join(", ", w.Names)}");
                break;
            case ChatReceived c:
                Add(c.At, c.To is null ? LineKind.Chat : LineKind.Direct, c.To is null ? $"<{c.From}> {c.Text}" : $"<{c.From} → {c.To}> {c.Text}");
                break;
            case ChatSent s:
                Add(s.At, LineKind.Own, s.To is null ? $"<{Me}> {s.Text}" : $"<{Me} → {s.To}> {s.Text}");
                break;
            case ChatNotSent n:
                Add(now, LineKind.Error, $"not sent{(n.To is null ? "" : $" to {n.To}")}: \"{HumanEventFormatter.Excerpt(n.Text)}\": {n.Reason}");
                break;
            case ChatQueue q:
                QueuedLines = q.Waiting;
                break;
            case ErrorOccurred err:
                Add(now, LineKind.Error, err.Message);
                break;
            case ServerPinned p:
                Add(now, LineKind.Notice, $"pinned {p.Server}'s key {p.Fingerprint} in {p.File}");
                break;
            case TransferWaiting w:
                File(w.Id, w.File, TransferDirection.Send, w.To, w.Size, now).Row.Waiting = true;
                break;
            case TransferOffered o:
            {
                var (row, file) = File(o.Id, o.File, TransferDirection.Receive, o.From, o.Size, now);
                file.Offered = _asks;
                if (_asks && row.Files.Count == 1)
                    Add(now, LineKind.Notice, $"{o.From} offers {row.Label} ({Units.Bytes(o.Size)}{(row.Folder ? ", more may follow" : "")}): accept? (/accept {o.Id})");
                break;
            }
            case TransferStarted s:
            {
                var (row, file) = File(s.Id, s.File, s.Direction, s.Direction == TransferDirection.Send ? s.To : s.From, s.Size, now);
                file.Offered = false;
                row.Waiting = false;
                file.Bytes = s.Offset;
                if (row.Files.Count == 1 && !row.Folder)
                    Add(now, LineKind.Notice, $"{(s.Direction == TransferDirection.Send ? "sending" : "receiving")} {row.Label} {(s.Direction == TransferDirection.Send ? "to" : "from")} {row.Peer} ({Units.Bytes(s.Size)}){(s.Offset > 0 ? $", resuming at {Units.Bytes(s.Offset)}" : "")}");
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
                        Add(now, LineKind.Notice, $"{done.Row.Label} {(done.Row.Direction == TransferDirection.Send ? "sent to" : "received from")} {done.Row.Peer} ({Units.Bytes(c.Size)}, {c.Seconds:0.0} s, SHA-256 verified){(done.Row.Direction == TransferDirection.Receive ? $": {c.Path}" : "")}");
                }
                break;
            case TransferFailed f:
                if (Find(f.Id) is { } failed)
                {
                    Finish(failed.Row, failed.File, now, f.Reason);
                    Add(now, LineKind.Error, $"{f.File}: {f.Reason}");
                }
                break;
            case TransferCancelled c:
                if (Find(c.Id) is { } cancelled)
                {
                    Finish(cancelled.Row, cancelled.File, now, $"cancelled by {c.By}");
                    Add(now, LineKind.Notice, $"{c.File} cancelled by {c.By}");
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

    private void FinishFolder(Row row, DateTimeOffset now)
    {
        row.FinishedAt = now;
        var failed = row.Files.Values.Where(f => f.Failed).Sum(f => f.Count);
        var count = row.Files.Values.Sum(f => f.Count);
        var verb = row.Direction == TransferDirection.Send ? "sent to" : "received from";
        Add(now, failed == 0 ? LineKind.Notice : LineKind.Error,
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
            text = failed == 0 ? "done" : row.Folder ? $"{failed} failed" : $"failed: {row.Failure}";
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

    /// <summary>Lines added since the start (the log keeps only the last ones): a reader remembers it to take only new lines.</summary>
    public long LinesAdded { get; private set; }

    /// <summary>The lines added after the first <paramref name="seen"/> (as many of them as the log still holds).</summary>
    public IReadOnlyList<LogLine> LinesSince(long seen)
    {
        var fresh = (int)Math.Min(_log.Count, LinesAdded - seen);
        return fresh <= 0 ? [] : _log.GetRange(_log.Count - fresh, fresh);
    }

    private void Add(DateTimeOffset at, LineKind kind, string text)
    {
        LinesAdded++;
        _log.Add(new LogLine(at, kind, HumanEventFormatter.Safe(text)));
        if (_log.Count > _maxLog) _log.RemoveRange(0, _log.Count - _maxLog);
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
