namespace AkkaTcpTransfer.Transfer.Flow;

/// <summary>How large a sender's window should be, from what its acknowledgements show: the path's round trip (the
/// smallest seen in this transfer: the delay of the path itself, without the queues a large window builds) times the
/// highest rate the receiver has acknowledged lately, twice over. A window below that product leaves the link idle
/// while the sender waits for acks; one far above it only queues bytes. So on a short path the window stays at its
/// floor (<c>transfer.window</c>) and memory stays flat, while on a long fat one it doubles every round trip for as
/// long as the window, not the link, limits the rate, up to <c>transfer.max-window</c>.</summary>
/// <remarks>Rates are measured over at least a round trip and at least <see cref="MinSampleInterval"/>, so that acks
/// arriving within moments of each other are never a sample of their own; the highest of the last
/// <see cref="RateSamples"/> is used, so that a moment of loss (TCP recovering) does not shrink the window just when the
/// link has room again. A burst of acks after a recovery still reads high, and is kept: on a lossy link that larger
/// window is what keeps the sender going through the next recovery (measured both ways: docs/PERFORMANCE.md, "A window
/// that follows the path").</remarks>
internal sealed class WindowControl
{
    /// <summary>Window per bandwidth-delay product: room for a round trip of data in flight and one more that waits
    /// in queues or for acks (the receiver acknowledges at intervals, and TCP recovering a loss holds data back).</summary>
    public const double Gain = 2.0;

    public static readonly TimeSpan MinSampleInterval = TimeSpan.FromMilliseconds(10);

    public const int RateSamples = 8;

    private readonly double[] _rates = new double[RateSamples];
    private int _nextRate;
    private TimeSpan _minRtt = TimeSpan.MaxValue;
    private TimeSpan _sampleFrom;
    private long _ackedFrom;

    /// <summary>The smallest round trip seen (zero before the first).</summary>
    public TimeSpan MinRtt => _minRtt == TimeSpan.MaxValue ? TimeSpan.Zero : _minRtt;

    /// <summary>The highest recent delivery rate, bytes per second.</summary>
    public double Rate => _rates.Max();

    /// <summary>Streaming begins at <paramref name="offset"/>.</summary>
    public void Begin(long offset, TimeSpan now)
    {
        _sampleFrom = now;
        _ackedFrom = offset;
    }

    /// <summary>An acknowledgement of <paramref name="acked"/> bytes arrived at <paramref name="now"/>;
    /// <paramref name="roundTrip"/> is the time since the chunk it completes was sent, if it completes one.</summary>
    public void Acked(long acked, TimeSpan now, TimeSpan? roundTrip)
    {
        if (roundTrip is { } rtt && rtt < _minRtt && rtt > TimeSpan.Zero) _minRtt = rtt;
        var span = now - _sampleFrom;
        if (_minRtt == TimeSpan.MaxValue || span < MinSampleInterval || span < _minRtt) return;
        _rates[_nextRate] = (acked - _ackedFrom) / span.TotalSeconds;
        _nextRate = (_nextRate + 1) % RateSamples;
        _sampleFrom = now;
        _ackedFrom = acked;
    }

    /// <summary>The window to use: <see cref="Gain"/> × rate × round trip, at least <paramref name="floor"/> and at most
    /// <paramref name="cap"/>.</summary>
    public int Target(int floor, int cap)
    {
        var wanted = Gain * Rate * MinRtt.TotalSeconds;
        return (int)Math.Clamp(wanted, floor, Math.Max(floor, cap));
    }
}
