using AkkaTcpTransfer.Limits;

namespace AkkaTcpTransfer.Tcp;

/// <summary>When a connection may ask Akka.IO for the next read (pull mode): one read at a time, only while its owner
/// has handled all but <c>connection.read-ahead</c> of the batches of frames delivered to it, and only while the peer
/// keeps within <c>connection.max-frames-per-second</c>. A fast or hostile peer is slowed down by TCP itself: nothing it
/// sends piles up in a mailbox. Pure: the connection actor passes the time in and does what it says.</summary>
internal sealed class ReadGate(int readAhead, int maxFramesPerSecond, TimeSpan now)
{
    /// <summary>What the connection should do about reading now.</summary>
    public enum Decision
    {
        /// <summary>Nothing: a read is pending, the owner is behind, or reading is over.</summary>
        Wait,
        /// <summary>Ask Akka.IO for the next read (it counts as pending from now).</summary>
        Read,
        /// <summary>The peer is over its frame rate: ask again after <see cref="RetryAfter"/> (a timer).</summary>
        Throttle,
    }

    private readonly TokenBucket _frameRate = new(maxFramesPerSecond, maxFramesPerSecond, now);

    /// <summary>A read was asked for and has not arrived.</summary>
    public bool Pending { get; private set; }

    /// <summary>Batches delivered to the owner that it has not yet confirmed.</summary>
    public int Unhandled { get; private set; }

    /// <summary>A throttle timer is running.</summary>
    public bool Throttled { get; private set; }

    /// <summary>After <see cref="Decision.Throttle"/>: how long until the rate allows the next read.</summary>
    public TimeSpan RetryAfter { get; private set; }

    /// <summary>No more reads (the connection is closing or closed).</summary>
    public bool Closed { get; set; }

    /// <param name="transportWantsInput">False while the transport holds much undecrypted input (TLS).</param>
    public Decision Next(TimeSpan now, bool transportWantsInput)
    {
        if (Pending || Closed || Unhandled >= readAhead || !transportWantsInput) return Decision.Wait;
        var wait = _frameRate.WaitFor(now);
        if (wait > TimeSpan.Zero)
        {
            if (Throttled) return Decision.Wait;
            Throttled = true;
            RetryAfter = wait;
            return Decision.Throttle;
        }
        Pending = true;
        return Decision.Read;
    }

    /// <summary>The read arrived.</summary>
    public void Received() => Pending = false;

    /// <summary>A read was asked for outside the gate (closing: keep reading until the peer's FIN).</summary>
    public void ForceRead() => Pending = true;

    /// <summary><paramref name="frames"/> frames were decoded: they count against the peer's frame rate.</summary>
    public void Decoded(TimeSpan now, int frames) => _frameRate.Charge(now, frames);

    /// <summary>A batch went to the owner.</summary>
    public void Delivered() => Unhandled++;

    /// <summary>The owner handled a batch (<c>ReadMore</c>).</summary>
    public void Handled() => Unhandled--;

    /// <summary>The throttle timer fired.</summary>
    public void ThrottleOver() => Throttled = false;
}
