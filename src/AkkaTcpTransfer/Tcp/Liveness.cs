namespace AkkaTcpTransfer.Tcp;

/// <summary>Whether a connection's peer is still there, judged at every keepalive tick: a peer we are waiting to read
/// from that sends nothing for <c>connection.idle-timeout</c> is gone; a peer that takes nothing of what we send for
/// <c>connection.write-timeout</c> is stuck; a connection that sent nothing since the last tick sends a ping (once the
/// handshake allows it). Pure: the connection actor passes the time in.</summary>
internal sealed class Liveness(TimeSpan idleTimeout, TimeSpan writeTimeout, TimeSpan now)
{
    public enum Verdict { Fine, Ping, Idle, Stuck }

    private TimeSpan _lastReceived = now;
    private TimeSpan _lastWriteProgress = now;
    private bool _sentSinceTick;

    /// <summary>Bytes arrived from the peer.</summary>
    public void Received(TimeSpan now) => _lastReceived = now;

    /// <summary>A write went to the transport; <paramref name="firstInFlight"/>: nothing was in flight before it, so the
    /// write timeout counts from here.</summary>
    public void Wrote(TimeSpan now, bool firstInFlight)
    {
        _sentSinceTick = true;
        if (firstInFlight) _lastWriteProgress = now;
    }

    /// <summary>A write was acknowledged: the peer is taking what we send.</summary>
    public void Progressed(TimeSpan now) => _lastWriteProgress = now;

    /// <summary>Silence so far (for the reason a connection is closed).</summary>
    public TimeSpan Silent(TimeSpan now) => now - _lastReceived;

    /// <summary>Time the peer has taken nothing (for the reason a connection is closed).</summary>
    public TimeSpan Stalled(TimeSpan now) => now - _lastWriteProgress;

    /// <param name="waitingToRead">A read is pending: only then can silence be the peer's (while the owner is behind or
    /// the peer throttled, its bytes wait in the kernel).</param>
    /// <param name="writesInFlight">Writes handed on and not acknowledged.</param>
    /// <param name="mayPing">The handshake is done (until then each side may send only its handshake frames).</param>
    public Verdict Tick(TimeSpan now, bool waitingToRead, int writesInFlight, bool mayPing)
    {
        if (waitingToRead && now - _lastReceived > idleTimeout) return Verdict.Idle;
        if (writesInFlight > 0 && now - _lastWriteProgress > writeTimeout) return Verdict.Stuck;
        var quiet = !_sentSinceTick;
        _sentSinceTick = false;
        return quiet && mayPing ? Verdict.Ping : Verdict.Fine;
    }
}
