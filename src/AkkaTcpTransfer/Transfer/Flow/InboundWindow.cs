using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Transfer.Flow;

/// <summary>The flow control a receiver granted, enforced where chunks are routed, before they reach any mailbox: a
/// sender may have at most the window it declared in Start (never more than granted) beyond the last Ack, in order,
/// without gaps, in chunks no larger than granted, and nothing after the Done that ends them. A sender that breaks it
/// has its transfer failed and its further chunks dropped; its data never piles up here.</summary>
/// <remarks>The router (the connection's owner) admits chunks; the receiver actor, on another thread, records what it
/// grants and acknowledges. Each field has one writer; readers see it through <see cref="Volatile"/>.</remarks>
internal sealed class InboundWindow
{
    private readonly WindowPool.Share? _share;
    private long _acked;
    private int _maxChunk;
    private int _granted;
    private int _window;
    private long _next = -1;
    private bool _done;
    private bool _broken;

    /// <param name="share">Where a receiver's grant beyond <c>transfer.window</c> comes from: the connection's pool for
    /// incoming transfers.</param>
    public InboundWindow(WindowPool.Share share) => _share = share;

    private InboundWindow() => _share = null;

    /// <summary>A relay's: it grants what the receiver granted, capped by its own settings, and holds nothing.</summary>
    public static InboundWindow ForRelay() => new();

    /// <summary>Receiver, before it sends Accept: the largest chunk, and the window it would like to grant; answers the
    /// window granted (less while other transfers of the connection hold the pool).</summary>
    public int Grant(int maxChunk, int window)
    {
        if (_share is not null) window = _share.Resize(window);
        Volatile.Write(ref _maxChunk, maxChunk);
        Volatile.Write(ref _granted, window);
        return window;
    }

    /// <summary>Receiver, whenever it sends an Ack.</summary>
    public void Acknowledged(long written)
    {
        if (written > Volatile.Read(ref _acked)) Volatile.Write(ref _acked, written);
    }

    /// <summary>A relay, for an Ack it is about to pass on from a receiver it does not trust: true to pass it (it
    /// moves the window), false to drop it (it does not move it); a problem if it acknowledges what was never sent or
    /// goes backwards.</summary>
    public (bool Forward, string? Problem) CheckAcknowledgement(long written)
    {
        var acked = Volatile.Read(ref _acked);
        if (_next < 0 || written > _next) return (false, $"an acknowledgement of byte {written}, beyond the {Math.Max(0, _next)} sent");
        if (written < acked) return (false, $"an acknowledgement going back from byte {acked} to {written}");
        if (written == acked) return (false, null);
        Volatile.Write(ref _acked, written);
        return (true, null);
    }

    /// <summary>True once a Start has been admitted.</summary>
    public bool Started => _next >= 0;

    /// <summary>Router, for the Start frame: chunks begin at its offset, within its window. Null if acceptable, else why
    /// not (the router then fails the transfer).</summary>
    public string? Start(Start start)
    {
        var granted = Volatile.Read(ref _granted);
        if (granted == 0) return "Start before Accept";
        if (_next >= 0) return "a second Start";
        if (start.Window > granted) return $"the sender's window of {start.Window} bytes is larger than the {granted} granted";
        _window = start.Window;
        // A sender declaring less than was granted: the rest goes back to the pool for other transfers.
        _share?.Resize(start.Window);
        _next = start.Offset;
        Volatile.Write(ref _acked, start.Offset);
        return null;
    }

    /// <summary>Router, for every chunk: null to pass it on, else why it breaks the transfer's flow control (once; a
    /// transfer already broken answers <see cref="Broken"/> and its chunks are dropped without another report).</summary>
    public string? Admit(Chunk chunk)
    {
        if (_broken) return Broken;
        var problem = _next < 0 ? "a chunk before Start"
            : _done ? $"a chunk at byte {chunk.Offset} after Done"
            : chunk.Offset != _next ? $"a chunk at byte {chunk.Offset}, expected byte {_next}"
            : chunk.Data.Length > Volatile.Read(ref _maxChunk) ? $"a {chunk.Data.Length}-byte chunk, larger than the {_maxChunk} bytes granted"
            : chunk.Offset + chunk.Data.Length - Volatile.Read(ref _acked) > _window ? $"more than the flow-control window of {_window} bytes unacknowledged"
            : null;
        if (problem is not null)
        {
            _broken = true;
            return problem;
        }
        _next += chunk.Data.Length;
        return null;
    }

    /// <summary>Router, for the Done frame: it must come after Start and right after the last byte it counts. Null if
    /// acceptable, else why not; from then on every chunk is refused (<see cref="Admit"/>).</summary>
    public string? Finish(Done done)
    {
        if (_broken) return Broken;
        var problem = _next < 0 ? "Done before Start"
            : _done ? "a second Done"
            : done.Size != _next ? $"Done for {done.Size} bytes after {_next} were sent"
            : null;
        _done = true;
        _broken = problem is not null;
        return problem;
    }

    /// <summary>What <see cref="Admit"/> answers once the transfer has been failed.</summary>
    public const string Broken = "";
}
