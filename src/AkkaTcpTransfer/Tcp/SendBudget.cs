using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The node-wide cap on bytes waiting to be sent, over every connection: what peers that read slowly (or
/// not at all) can make this node hold. Each <see cref="ConnectionActor"/> reports what it holds (queued and handed to
/// Akka.IO but not yet acknowledged) through its <see cref="Gauge"/>. When the total passes the limit, the connection
/// that pushed it over picks victims and tells them to close: stalled connections (no write acknowledged for a second)
/// with the most bytes first, then connections that read too slowly to empty their queue within two seconds at their
/// own rate (judged after half a second of waiting), until a quarter of the limit is free again; while none qualifies
/// it looks again every half second. A fast reader's writes are acknowledged all the time, so it comes last, even when a burst has made
/// its queue the largest for a moment (over TLS, a reader that stopped hides up to 256 KiB of its backlog as ciphertext
/// already handed on, so sizes alone picked the reader).</summary>
/// <remarks>Shared between connection actors through interlocked counters rather than messages: the check sits on the
/// hot path of every send, and a message to a budget actor per frame would cost more than the frame.</remarks>
internal sealed class SendBudget : IExtension
{
    /// <summary>One connection's holdings, written by its actor, read by whoever sheds.</summary>
    public sealed class Gauge(IActorRef connection, SendBudget budget)
    {
        private long _held;
        private long _lastProgress = Stopwatch.GetTimestamp();
        private long _waitStart = Stopwatch.GetTimestamp();
        private long _ackedSinceWait;
        private int _released;

        public IActorRef Connection { get; } = connection;
        public long Held => Volatile.Read(ref _held);
        public TimeSpan SinceProgress => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastProgress));

        /// <summary>How long this connection has held bytes without a break.</summary>
        public TimeSpan Waiting => Stopwatch.GetElapsedTime(Volatile.Read(ref _waitStart));

        /// <summary>How long what it holds would take to go at the rate its peer has read since it began waiting
        /// (infinite when nothing was read).</summary>
        public TimeSpan DrainTime
        {
            get
            {
                var acked = Volatile.Read(ref _ackedSinceWait);
                var waited = Waiting.TotalSeconds;
                return acked <= 0 || waited <= 0 ? TimeSpan.MaxValue : TimeSpan.FromSeconds(Math.Min(1e6, Held / (acked / waited)));
            }
        }

        /// <summary>This connection now holds <paramref name="delta"/> more (or fewer) bytes; true when the node is over
        /// its budget after the change.</summary>
        public bool Add(long delta)
        {
            if (Volatile.Read(ref _released) != 0) return false;
            // An idle connection given something to send starts waiting now: how long it waited before, with nothing
            // to send, says nothing about whether its peer reads (else the first burst after a quiet spell would make
            // the quietest reader look like the slowest).
            if (Interlocked.Add(ref _held, delta) == delta && delta > 0) WaitingSinceAt(Stopwatch.GetTimestamp(), 0);
            return budget.Add(delta);
        }

        /// <summary>A write of <paramref name="bytes"/> was acknowledged: the peer is reading.</summary>
        public void Acked(long bytes)
        {
            ProgressAt(Stopwatch.GetTimestamp());
            Interlocked.Add(ref _ackedSinceWait, bytes);
        }

        /// <summary>A write was acknowledged at <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
        internal void ProgressAt(long timestamp) => Volatile.Write(ref _lastProgress, timestamp);

        /// <summary>The connection began waiting at <paramref name="timestamp"/> and <paramref name="acked"/> bytes were
        /// read since (tests set a history with it).</summary>
        internal void WaitingSinceAt(long timestamp, long acked)
        {
            Volatile.Write(ref _waitStart, timestamp);
            Volatile.Write(ref _ackedSinceWait, acked);
            ProgressAt(Math.Max(timestamp, Volatile.Read(ref _lastProgress)));
        }

        /// <summary>The connection is gone: its bytes no longer count.</summary>
        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            budget.Add(-Interlocked.Exchange(ref _held, 0));
            budget._gauges.TryRemove(Connection, out _);
        }
    }

    private static readonly TimeSpan StalledAfter = TimeSpan.FromSeconds(1);
    /// <summary>Sheds are at least this far apart, and a connection that still reads must have waited this long before
    /// its rate says anything.</summary>
    internal static readonly TimeSpan ShedInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>A connection that reads, but so slowly that what it holds would take longer than this to go, may be shed.</summary>
    private static readonly TimeSpan MaxDrain = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<IActorRef, Gauge> _gauges = new();
    private long _total;
    private long _lastShed;

    public SendBudget(long limit) => Limit = limit;

    public long Limit { get; private set; }

    public long Total => Volatile.Read(ref _total);

    public static SendBudget For(ActorSystem system, long limit)
    {
        var budget = system.WithExtension<SendBudget, SendBudgetProvider>();
        budget.Limit = limit;
        return budget;
    }

    /// <summary>The budget of <paramref name="system"/> as it is (for figures and tests).</summary>
    public static SendBudget Get(ActorSystem system) => system.WithExtension<SendBudget, SendBudgetProvider>();

    public Gauge Register(IActorRef connection) => _gauges.GetOrAdd(connection, c => new Gauge(c, this));

    private bool Add(long delta) => Interlocked.Add(ref _total, delta) > Limit;

    /// <summary>Chooses connections to close so that the node gets back under its budget; empty if another caller shed
    /// moments ago (its victims are still closing).</summary>
    public IReadOnlyList<Gauge> ChooseVictims()
    {
        var last = Volatile.Read(ref _lastShed);
        var now = Stopwatch.GetTimestamp();
        if (Stopwatch.GetElapsedTime(last, now) < ShedInterval || Interlocked.CompareExchange(ref _lastShed, now, last) != last) return [];
        var excess = Total - (Limit * 3 / 4);
        var victims = new List<Gauge>();
        // Victims: the stalled (nothing read for a second), the largest first; then those that read too slowly to empty
        // their queue within MaxDrain at their own rate, the slowest first. One that has waited less than ShedInterval
        // is not judged yet: a burst has just reached it and every peer, reading or not, looks alike for a moment.
        foreach (var gauge in _gauges.Values
                     .Where(g => g.Held > 0 && (g.SinceProgress >= StalledAfter || (g.Waiting >= ShedInterval && g.DrainTime > MaxDrain)))
                     .OrderByDescending(g => g.SinceProgress >= StalledAfter)
                     .ThenByDescending(g => g.SinceProgress >= StalledAfter ? g.Held : 0)
                     .ThenByDescending(g => g.DrainTime))
        {
            if (excess <= 0) break;
            victims.Add(gauge);
            excess -= gauge.Held;
        }
        return victims;
    }

    public sealed class SendBudgetProvider : ExtensionIdProvider<SendBudget>
    {
        public override SendBudget CreateExtension(ExtendedActorSystem system) => new(long.MaxValue);
    }
}
