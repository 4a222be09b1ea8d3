using System.Globalization;
using Akka.Actor;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Subscribes to a node's events and writes each as one line (human-readable or JSON) to a writer, in
/// publication order; being one actor, its lines never interleave. On a terminal (<c>live</c>) the transfers in
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

    private readonly TextWriter _output;
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
        _output = output;
        _json = json;
        _live = live && !json;
        _prefix = prefix;
        Receive<NodeEvent>(OnEvent);
        Receive<Flush>(_ => Sender.Tell(Flushed.Instance));
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
        if (_live) EraseStatus();
        _output.WriteLine(_prefix + line);
        if (_live) DrawStatus();
        _output.Flush();
    }

    private void Redraw()
    {
        EraseStatus();
        DrawStatus();
        _output.Flush();
    }

    /// <summary>Moves up over the progress bars drawn last time and clears them (ANSI: cursor up, erase line).</summary>
    private void EraseStatus()
    {
        for (var i = 0; i < _statusLines; i++) _output.Write("\u001b[1A\u001b[2K");
        _statusLines = 0;
    }

    private void DrawStatus()
    {
        foreach (var p in _inFlight.Values)
        {
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{_prefix}  {p.Id} {HumanEventFormatter.Progress(p)}"));
            _statusLines++;
        }
    }
}
