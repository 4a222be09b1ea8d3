using System.Globalization;
using System.Text;
using Akka.Actor;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Subscribes to a node's events and writes each as one line (human-readable or JSON) to a writer, in
/// publication order; being one actor, its lines never interleave. It never waits for the writer: text goes through a
/// bounded queue to a thread of its own (<see cref="BoundedOutput"/>), so a terminal or pipe that stops reading costs
/// lines (counted and reported), never memory or the node's progress. On a terminal (<c>live</c>) the transfers in
/// flight are drawn as progress bars below the scrolling lines, each cut to the terminal's width, and redrawn in
/// place; elsewhere progress is printed as ordinary lines, at most one every few seconds per row, and always the
/// last. A folder is one row and one closing line (its files are not listed one by one), and a connection that keeps
/// failing is reported once, not at every attempt.</summary>
internal sealed class ConsoleActor : ReceiveActor, IWithTimers
{
    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    /// <summary>The same disconnection reason is printed again only after this long.</summary>
    private static readonly TimeSpan RepeatedNoticeQuiet = TimeSpan.FromSeconds(30);

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Ask: answered with <see cref="Flushed"/> once every event received before it has been written.</summary>
    public sealed record Flush
    {
        public static readonly Flush Instance = new();
        private Flush() { }
    }

    public sealed record Flushed
    {
        public static readonly Flushed Instance = new();
        private Flushed() { }
    }

    private static readonly TimeSpan PlainProgressInterval = TimeSpan.FromSeconds(2);

    /// <summary>Pieces of text (a line, a redraw) the output may hold while nobody reads it; beyond, they are dropped.</summary>
    public const int OutputCapacity = 10_000;

    private readonly BoundedOutput _output;
    private readonly bool _json;
    private readonly bool _live;
    private readonly string _prefix;
    private readonly Dictionary<string, DateTimeOffset> _lastPrinted = [];
    private readonly HashSet<string> _foldersReported = [];
    private readonly HashSet<string> _foldersAnnounced = [];
    private readonly ScreenModel _model;
    private readonly bool _asks;
    private readonly Func<int> _width;
    private (string Reason, DateTimeOffset At, int Repeats)? _lastDisconnect;
    private int _statusLines;
    private bool _chatQueued;

    /// <param name="asks">This node asks before receiving: offers say how to answer.</param>
    /// <param name="width">The terminal's width in columns (live bars are cut to it).</param>
    public static Props Props(TextWriter output, bool json, string prefix = "", bool live = false, bool asks = false, Func<int>? width = null) =>
        Akka.Actor.Props.Create(() => new ConsoleActor(output, json, prefix, live, asks, width ?? TerminalWidth));

    public ConsoleActor(TextWriter output, bool json, string prefix, bool live, bool asks, Func<int> width)
    {
        _output = new BoundedOutput(output, OutputCapacity);
        _json = json;
        _live = live && !json;
        _prefix = prefix;
        _asks = asks;
        _width = width;
        _model = new ScreenModel("", asks);
        Receive<NodeEvent>(OnEvent);
        Receive<Tick>(_ => OnTick());
        Receive<Flush>(_ =>
        {
            // What this node printed last is how each transfer ended: folders with nothing in flight are done now.
            if (!_json)
            {
                var now = DateTimeOffset.Now;
                _model.Settle(now);
                ReportFolders(now);
            }
            _output.DrainedAsync(TimeSpan.FromSeconds(2)).ContinueWith(_ => Flushed.Instance, TaskScheduler.Default).PipeTo(Sender);
        });
    }

    protected override void PreStart()
    {
        if (!_json) Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, TimeSpan.FromMilliseconds(500));
    }

    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 80;
        }
        catch (IOException)
        {
            return 80;
        }
    }

    private void OnEvent(NodeEvent e)
    {
        if (_json)
        {
            if (JsonEventFormatter.Format(e) is { } json) WriteLine(json);
            return;
        }
        var now = DateTimeOffset.Now;
        _model.Apply(e, now);
        switch (e)
        {
            case TransferProgress p:
                if (_live)
                {
                    Redraw();
                    return;
                }
                // Plain output: the first, then one every few seconds per row, and the last (100 %).
                var row = _model.RowOf(p.Id, now);
                if (row is null || row.Files > 1 || Folder(p.File) is not null)
                {
                    if (row is null || _lastPrinted.TryGetValue(row.Key, out var shown) && now - shown < PlainProgressInterval) return;
                    _lastPrinted[row.Key] = now;
                    WriteLine(ScreenModel.Render(row, 120));
                    return;
                }
                if (p.Bytes < p.Total && _lastPrinted.TryGetValue(p.Id, out var last) && now - last < PlainProgressInterval) return;
                _lastPrinted[p.Id] = now;
                break;
            case TransferCompleted or TransferFailed or TransferCancelled:
                var id = e switch { TransferCompleted c => c.Id, TransferFailed f => f.Id, TransferCancelled c => c.Id, _ => "" };
                _lastPrinted.Remove(id);
                // A folder's files end quietly (a failure still says why); the folder says how it went as a whole.
                var endedFile = e switch { TransferCompleted c => c.File, TransferCancelled c => c.File, _ => "" };
                if (Folder(endedFile) is not null)
                {
                    if (_live) Redraw();
                    return;
                }
                break;
            case TransferOffered o when Folder(o.File) is { } folder:
                // One line per folder offered, not one per file.
                if (!_foldersAnnounced.Add($"<{o.From}/{folder}")) return;
                WriteLine($"{Stamp(now)}{o.Id} {HumanEventFormatter.Safe(o.From)} offers the folder {HumanEventFormatter.Safe(folder)}/" +
                          (_asks ? $": /accept {o.Id} or /reject {o.Id} (one answer for the whole folder)" : ""));
                return;
            case TransferOffered o when _asks:
                WriteLine($"{Stamp(now)}{HumanEventFormatter.Format(e, now)![11..]}: /accept {o.Id} or /reject {o.Id}");
                return;
            case TransferWaiting or TransferStarted when Folder(e is TransferWaiting w ? w.File : ((TransferStarted)e).File) is { } f:
                var key = e is TransferWaiting tw ? $">{tw.To}/{f}" : (TransferStarted)e is var ts && ts.Direction == TransferDirection.Send ? $">{ts.To}/{f}" : $"<{ts.From}/{f}";
                if (e is TransferWaiting waiting && _foldersAnnounced.Add(key))
                    WriteLine($"{Stamp(now)}sending the folder {HumanEventFormatter.Safe(f)}/ to {HumanEventFormatter.Safe(waiting.To)}: waiting for {HumanEventFormatter.Safe(waiting.To)} to accept");
                if (_live) Redraw();
                return;
            case Disconnected d when d.WillReconnect:
                // A server that stays away would print a line per attempt: say it once, then how often.
                if (_lastDisconnect is { } previous && previous.Reason == d.Reason && now - previous.At < RepeatedNoticeQuiet)
                {
                    _lastDisconnect = previous with { Repeats = previous.Repeats + 1 };
                    return;
                }
                if (_lastDisconnect is { Repeats: > 0 } before)
                    WriteLine($"{Stamp(now)}({before.Repeats} more reconnection attempts failed: {HumanEventFormatter.Safe(before.Reason)})");
                _lastDisconnect = (d.Reason, now, 0);
                break;
            case Connected:
                _lastDisconnect = null;
                break;
            case ChatQueue q:
                // Said once when lines start to wait (each then shows as it is sent), not at every change.
                if (q.Waiting > 0 && !_chatQueued) WriteLine($"{Stamp(now)}{q.Waiting} line(s) queued: they leave at the pace the server allows");
                _chatQueued = q.Waiting > 0;
                return;
        }
        if (HumanEventFormatter.Format(e, now) is { } line) WriteLine(line);
    }

    /// <summary>Folders settle into done (one line each); live bars follow the rows.</summary>
    private void OnTick()
    {
        var now = DateTimeOffset.Now;
        if (!_model.Tick(now)) return;
        ReportFolders(now);
        if (_live) Redraw();
    }

    /// <summary>One closing line per folder that is done (or failed), once.</summary>
    private void ReportFolders(DateTimeOffset now)
    {
        foreach (var row in _model.Transfers(now))
        {
            if (row.Label.EndsWith('/') && row.State is ScreenModel.RowState.Done or ScreenModel.RowState.Failed && _foldersReported.Add(row.Key + row.Files))
            {
                var verb = row.Direction == TransferDirection.Send ? "sent to" : "received from";
                var failed = row.State == ScreenModel.RowState.Failed ? $", {row.StateText}" : "";
                WriteLine($"{Stamp(now)}{HumanEventFormatter.Safe(row.Label)} {verb} {HumanEventFormatter.Safe(row.Peer)}: {row.Files} files, {Units.Bytes(row.Total)}{failed}");
                _foldersAnnounced.Remove(row.Key);
            }
        }
    }

    private static string? Folder(string file) => Transfer.TransfersActor.TopFolder(file);

    private static string Stamp(DateTimeOffset now) => $"[{now.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)}] ";

    private void WriteLine(string line)
    {
        var text = new StringBuilder();
        if (_live) EraseStatus(text);
        text.Append(_prefix).Append(line).Append(Environment.NewLine);
        var drawn = _live ? DrawStatus(text) : 0;
        Write(text, drawn);
    }

    private void Redraw()
    {
        var text = new StringBuilder();
        EraseStatus(text);
        Write(text, DrawStatus(text));
    }

    /// <summary>Hands the text to the output thread; if the output is not being read and its queue is full, the text
    /// is dropped (and counted), and the progress bars are taken to be what they were before.</summary>
    private void Write(StringBuilder text, int statusLines)
    {
        if (_output.TryWrite(text.ToString())) _statusLines = statusLines;
    }

    /// <summary>Moves up over the progress bars drawn last time and clears them (ANSI: cursor up, erase line).</summary>
    private void EraseStatus(StringBuilder text)
    {
        for (var i = 0; i < _statusLines; i++) text.Append("\u001b[1A\u001b[2K");
    }

    /// <summary>One line per row in flight, each cut to the terminal's width: a wrapped line would leave a stale row
    /// behind when the bars are erased.</summary>
    private int DrawStatus(StringBuilder text)
    {
        var width = Math.Max(20, _width() - 1 - _prefix.Length - 2);
        var rows = _model.Transfers(DateTimeOffset.Now).Where(r => r.State is not (ScreenModel.RowState.Done or ScreenModel.RowState.Failed)).ToList();
        foreach (var row in rows) text.Append(_prefix).Append("  ").Append(ScreenModel.Render(row, width)).Append(Environment.NewLine);
        return rows.Count;
    }

    protected override void PostStop() => _output.Dispose();
}
