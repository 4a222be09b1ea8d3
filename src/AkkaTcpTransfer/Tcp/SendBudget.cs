using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The node-wide cap on bytes waiting to be sent, over every connection: what peers that read slowly (or
/// not at all) can make this node hold. Each <see cref="ConnectionActor"/> reports what it holds (queued and handed to
/// Akka.IO but not yet acknowledged) through its <see cref="Gauge"/>. When the total passes the limit, the connection
/// that pushed it over picks victims and tells them to close: stalled connections (no write acknowledged for a second)
/// with the most bytes first, then the connections longest without an acknowledged write (at least half a second),
/// until a quarter of the limit is free again; while none qualifies it looks again every half second. A fast reader's writes are acknowledged all the time, so it comes last, even when a burst has made
/// its queue the largest for a moment (over TLS, a reader that stopped hides up to 256 KiB of its backlog as ciphertext
/// already handed on, so sizes alone picked the reader).</summary>
/// <remarks>Shared between connection actors through interlocked counters rather than messages: the check sits on the
/// hot path of every send, and a message to a budget actor per frame would cost more than the frame.</remarks>
public sealed class SendBudget : IExtension
{
    /// <summary>One connection's holdings, written by its actor, read by whoever sheds.</summary>
    public sealed class Gauge(IActorRef connection, SendBudget budget)
    {
        private long _held;
        private long _lastProgress = Stopwatch.GetTimestamp();
        private int _released;

        public IActorRef Connection { get; } = connection;
        public long Held => Volatile.Read(ref _held);
        public TimeSpan SinceProgress => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastProgress));

        /// <summary>This connection now holds <paramref name="delta"/> more (or fewer) bytes; true when the node is over
        /// its budget after the change.</summary>
        public bool Add(long delta)
        {
            if (Volatile.Read(ref _released) != 0) return false;
            // An idle connection given something to send starts waiting now: how long it waited before, with nothing
            // to send, says nothing about whether its peer reads (else the first burst after a quiet spell would make
            // the quietest reader look like the slowest).
            if (Interlocked.Add(ref _held, delta) == delta && delta > 0) ProgressAt(Stopwatch.GetTimestamp());
            return budget.Add(delta);
        }

        /// <summary>A write was acknowledged: the peer is reading.</summary>
        public void Progress() => ProgressAt(Stopwatch.GetTimestamp());

        /// <summary>A write was acknowledged at <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
        internal void ProgressAt(long timestamp) => Volatile.Write(ref _lastProgress, timestamp);

        /// <summary>The connection is gone: its bytes no longer count.</summary>
        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            budget.Add(-Interlocked.Exchange(ref _held, 0));
            budget._gauges.TryRemove(Connection, out _);
        }
    }

    private static readonly TimeSpan StalledAfter = TimeSpan.FromSeconds(1);
    /// <summary>Sheds are at least this far apart, and a connection must have gone this long without an acknowledged
    /// write before it can be shed.</summary>
    internal static readonly TimeSpan ShedInterval = TimeSpan.FromMilliseconds(500);

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
        // Only a connection that has gone a while without an acknowledged write can be a victim: one that is draining
        // is left to drain (its own max-send-queue still bounds it). Deciding sooner would pick among peers that have
        // all just been handed a burst and not yet had the time to show which of them read.
        foreach (var gauge in _gauges.Values.Where(g => g.Held > 0 && g.SinceProgress >= ShedInterval)
                     .OrderByDescending(g => g.SinceProgress >= StalledAfter)
                     .ThenByDescending(g => g.SinceProgress >= StalledAfter ? g.Held : 0)
                     .ThenByDescending(g => g.SinceProgress))
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
