using System.Globalization;
using System.Text;
using Akka.Actor;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Subscribes to a node's events and writes each as one line (human-readable or JSON) to a writer, in
/// publication order; being one actor, its lines never interleave. It never waits for the writer: text goes through a
/// bounded queue to a thread of its own (<see cref="BoundedOutput"/>), so a terminal or pipe that stops reading costs
/// lines (counted and reported), never memory or the node's progress. On a terminal (<c>live</c>) the transfers in
/// flight are drawn as progress bars below the scrolling lines and redrawn in place; elsewhere progress is printed
/// as ordinary lines, at most one every few seconds per transfer, and always the last.</summary>
public sealed class ConsoleActor : ReceiveActor
{
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
    private readonly SortedDictionary<string, TransferProgress> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _lastPrinted = [];
    private int _statusLines;

    public static Props Props(TextWriter output, bool json, string prefix = "", bool live = false) =>
        Akka.Actor.Props.Create(() => new ConsoleActor(output, json, prefix, live));

    public ConsoleActor(TextWriter output, bool json, string prefix, bool live)
    {
        _output = new BoundedOutput(output, OutputCapacity);
        _json = json;
        _live = live && !json;
        _prefix = prefix;
        Receive<NodeEvent>(OnEvent);
        Receive<Flush>(_ => _output.DrainedAsync(TimeSpan.FromSeconds(2)).ContinueWith(_ => Flushed.Instance, TaskScheduler.Default).PipeTo(Sender));
    }

    private void OnEvent(NodeEvent e)
    {
        if (_json)
        {
            if (JsonEventFormatter.Format(e) is { } json) WriteLine(json);
            return;
        }
        var now = DateTimeOffset.Now;
        switch (e)
        {
            case TransferProgress p:
                if (p.Bytes < p.Total) _inFlight[p.Id] = p;
                else _inFlight.Remove(p.Id);
                if (_live)
                {
                    Redraw();
                    return;
                }
                // Plain output: the first, then one every few seconds, and the last (100 %).
                if (p.Bytes < p.Total && _lastPrinted.TryGetValue(p.Id, out var last) && now - last < PlainProgressInterval) return;
                _lastPrinted[p.Id] = now;
                break;
            case TransferCompleted or TransferFailed or TransferCancelled:
                var id = e switch { TransferCompleted c => c.Id, TransferFailed f => f.Id, TransferCancelled c => c.Id, _ => "" };
                _inFlight.Remove(id);
                _lastPrinted.Remove(id);
                break;
        }
        if (HumanEventFormatter.Format(e, now) is { } line) WriteLine(line);
    }

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

    private int DrawStatus(StringBuilder text)
    {
        foreach (var p in _inFlight.Values)
            text.Append(CultureInfo.InvariantCulture, $"{_prefix}  {p.Id} {HumanEventFormatter.Progress(p)}").Append(Environment.NewLine);
        return _inFlight.Count;
    }

    protected override void PostStop() => _output.Dispose();
}
