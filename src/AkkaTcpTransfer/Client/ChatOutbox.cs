using AkkaTcpTransfer.Limits;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Client;

/// <summary>A client's chat lines on their way out: queued (at most <c>chat.send-queue</c>) until the chat rate the
/// server announced in its Welcome allows them, then sent and waiting for the server's answer (<see cref="SayAck"/> or
/// <see cref="SayRefused"/>, by line id). Our client therefore never exceeds what the server allows, however fast lines
/// come (a paste, a script). Pure and single-threaded: its owner passes the time in.</summary>
internal sealed class ChatOutbox(int capacity)
{
    /// <param name="Number">The node's number for the line; its wire id is the low 32 bits.</param>
    /// <param name="To">Null: to everyone.</param>
    public sealed record Line(long Number, string? To, string Text)
    {
        public uint WireId => unchecked((uint)Number);
    }

    private readonly Queue<Line> _queued = new();
    private readonly Dictionary<uint, Line> _sent = [];
    private TokenBucket? _rate;

    /// <summary>Lines not yet sent (waiting for the rate).</summary>
    public int Queued => _queued.Count;

    /// <summary>Lines not yet answered by the server: queued or sent.</summary>
    public int Unconfirmed => _queued.Count + _sent.Count;

    /// <summary>Keeps <paramref name="line"/> for sending, unless <c>chat.send-queue</c> lines already wait.</summary>
    public bool TryEnqueue(Line line)
    {
        if (_queued.Count >= capacity) return false;
        _queued.Enqueue(line);
        return true;
    }

    /// <summary>A new session: its rates (the server's bucket for it starts full, and so does ours).</summary>
    public void Begin(ClientLimits limits, TimeSpan now) => _rate = new TokenBucket(limits.ChatPerSecond, limits.ChatBurst, now);

    /// <summary>The lines the rate allows now, in order; they count as sent from here on.</summary>
    public List<Line> TakeReady(TimeSpan now)
    {
        var ready = new List<Line>();
        if (_rate is null) return ready;
        while (_queued.Count > 0 && _rate.TryTake(now))
        {
            var line = _queued.Dequeue();
            _sent[line.WireId] = line;
            ready.Add(line);
        }
        return ready;
    }

    /// <summary>How long until the next queued line may go, or null when none waits (or no session has begun).</summary>
    public TimeSpan? NextIn(TimeSpan now) => _queued.Count == 0 || _rate is null ? null : _rate.WaitFor(now);

    /// <summary>The server answered the line sent with this id (null: no such line is waiting for an answer).</summary>
    public Line? Answered(uint id) => _sent.Remove(id, out var line) ? line : null;

    /// <summary>The session is over: every line not answered, the sent ones first (in order), then the queued ones; the
    /// outbox is empty afterwards and waits for the next session's rates.</summary>
    public (List<Line> Sent, List<Line> Queued) TakeAll()
    {
        var sent = _sent.Values.OrderBy(l => l.Number).ToList();
        var queued = _queued.ToList();
        _sent.Clear();
        _queued.Clear();
        _rate = null;
        return (sent, queued);
    }
}
