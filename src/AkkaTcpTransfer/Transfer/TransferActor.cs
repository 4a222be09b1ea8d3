using System.Diagnostics;
using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer.Storage;

namespace AkkaTcpTransfer.Transfer;

/// <summary>The lifecycle both ends of a transfer share (<see cref="SenderActor"/>, <see cref="ReceiverActor"/>), so
/// that they start, move, stall and end by the same rules:
/// <list type="bullet">
/// <item>at start it attaches to the node's table (<see cref="TransfersActor"/>), so that cancel and list reach it;</item>
/// <item>the table hears every change first (<see cref="Started"/>, <see cref="ReportProgress"/>, <see cref="End"/>),
/// then the event is published: whoever reads the event and asks the node finds the table in step with it;</item>
/// <item>once bytes move, a stall check ends a transfer nothing has moved for <c>transfer.stall-timeout</c>;</item>
/// <item>hashing (a resume's prefix, a partial from an earlier run) goes a slice per message (<see cref="HashInSlices"/>);</item>
/// <item>an ended transfer tells its owner it is <see cref="TransferMessages.Finished"/> and drops late frames until the
/// owner's <see cref="TransferMessages.Release"/>, so that nothing routed to it becomes a dead letter;</item>
/// <item>stopped without having ended (its parent stopped it after a failure, or it was killed), it fails the transfer
/// at both ends in <see cref="PostStop"/> and gives back what it held; it is never restarted.</item>
/// </list>
/// Each end keeps its own protocol in its own class: its states, the frames it takes, and what its file needs.</summary>
internal abstract class TransferActor : ReceiveActor, IWithTimers
{
    private sealed class StallCheck
    {
        public static readonly StallCheck Instance = new();
    }

    private sealed class HashStep
    {
        public static readonly HashStep Instance = new();
    }

    /// <summary>Bytes hashed per message, so that a cancel or a lost connection waiting in the mailbox is handled
    /// between two slices, never behind gigabytes.</summary>
    private const int HashSlice = 8 * 1024 * 1024;

    private readonly IActorRef _connection;
    private readonly IActorRef _transfers;
    private readonly TransferDirection _direction;
    private readonly TimeSpan _stallTimeout;
    private readonly TimeSpan _progressInterval;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private ProgressMeter? _meter;
    private TimeSpan _lastMovement;
    private (Func<int, bool> Slice, Action Done, Action<string> Failed)? _hashing;

    /// <param name="id">The transfer's id on the wire.</param>
    /// <param name="file">The name the sender offered.</param>
    /// <param name="peer">The other end: the recipient of a send, the sender of a receive.</param>
    /// <param name="localName">This node's name, as the other end knows it.</param>
    /// <param name="connection">Where this transfer's frames go.</param>
    /// <param name="transfers">The node's table of transfers.</param>
    protected TransferActor(uint id, string file, long size, TransferDirection direction, string peer, string localName,
        IActorRef connection, IActorRef transfers, NodeSettings settings)
    {
        WireId = id;
        Id = TransferIds.Format(id);
        FileName = file;
        Size = size;
        Peer = peer;
        LocalName = localName;
        _direction = direction;
        _connection = connection;
        _transfers = transfers;
        _stallTimeout = settings.Transfer.StallTimeout;
        _progressInterval = settings.Transfer.ProgressInterval;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected uint WireId { get; }

    /// <summary>The id as people see it (8 hex digits), in every event.</summary>
    protected string Id { get; }

    protected string FileName { get; }

    protected long Size { get; }

    protected string Peer { get; }

    protected string LocalName { get; }

    /// <summary>Time since this actor began: timers, rates and stalls are measured on it.</summary>
    protected TimeSpan Now => _clock.Elapsed;

    /// <summary>When bytes began to move (<see cref="Started"/>).</summary>
    protected TimeSpan StartedAt { get; private set; }

    /// <summary>Over (ended, or withdrawn without an event): nothing more is published about this transfer.</summary>
    protected bool HasEnded { get; private set; }

    protected override void PreStart() =>
        _transfers.Tell(new TransferMessages.Attached(WireId, FileName, _direction, Peer, Size, Self));

    /// <summary>Stopped without having ended: the peer hears why, what this end held goes back (<see cref="GiveBack"/>),
    /// the node's table and then everyone else hear it failed. Its files are closed however it ended
    /// (<see cref="CloseFiles"/>).</summary>
    protected override void PostStop()
    {
        StopTakingAcks();
        if (!HasEnded)
        {
            HasEnded = true;
            var reason = $"the {(_direction == TransferDirection.Send ? "sending" : "receiving")} transfer actor stopped unexpectedly";
            Send(new Fail(WireId, reason));
            GiveBack();
            _transfers.Tell(new TransferMessages.Ended(WireId, _direction, Delivered: false, new TransferFailed(Id, FileName, reason)));
            Publish(new TransferFailed(Id, FileName, reason));
        }
        CloseFiles();
    }

    /// <summary>What a transfer stopped mid-way gives back before it is reported failed (a receiver: its partial file and
    /// its claim on the partials folder). Nothing, by default.</summary>
    protected virtual void GiveBack()
    {
    }

    /// <summary>Closes the files this end has open; called once, when the actor stops.</summary>
    protected abstract void CloseFiles();

    /// <summary>Fails the transfer at both ends: the peer hears <paramref name="reason"/>, and this end ends as failed.</summary>
    protected abstract void FailBoth(string reason);

    // ---------------------------------------------------------------- moving

    /// <summary>Bytes begin to move at <paramref name="offset"/>: the node's table hears it first, so that whoever sees
    /// the event and lists transfers finds this one moving; then the event; then stall checks begin.</summary>
    protected void Started(long offset)
    {
        StartedAt = _lastMovement = Now;
        _meter = new ProgressMeter(Size, offset, _progressInterval, Now);
        var started = _direction == TransferDirection.Send
            ? new TransferStarted(Id, FileName, Size, LocalName, Peer, _direction, offset)
            : new TransferStarted(Id, FileName, Size, Peer, LocalName, _direction, offset);
        _transfers.Tell(started);
        Publish(started);
        var interval = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, _stallTimeout.Ticks / 4));
        Timers.StartPeriodicTimer(nameof(StallCheck), StallCheck.Instance, interval);
    }

    /// <summary>Bytes moved (acknowledged at the sender, written at the receiver): the wait for a stall starts over.</summary>
    protected void Moved() => _lastMovement = Now;

    /// <summary>Reports <paramref name="bytes"/> if a report is due (at most one per <c>transfer.progress-interval</c>),
    /// never the last byte: the end reports that.</summary>
    protected void ReportProgressIfDue(long bytes)
    {
        if (_meter!.Due(Now) && bytes < Size) ReportProgress(bytes);
    }

    /// <summary>The node's table first: whoever sees the event and lists transfers finds at least these bytes.</summary>
    protected void ReportProgress(long bytes)
    {
        var (rate, eta) = _meter!.Report(bytes, Now);
        var progress = new TransferProgress(Id, FileName, bytes, Size, rate, eta);
        _transfers.Tell(progress);
        Publish(progress);
    }

    /// <summary>Hashes in slices, one per message: <paramref name="slice"/> hashes about as many bytes as it is given
    /// and answers true once all are hashed; then <paramref name="done"/> runs. A <see cref="TransferException"/> goes to
    /// <paramref name="failed"/> with its reason. The state that waits for it takes <see cref="HashSteps"/>.</summary>
    protected void HashInSlices(Func<int, bool> slice, Action done, Action<string> failed)
    {
        _hashing = (slice, done, failed);
        Self.Tell(HashStep.Instance);
    }

    /// <summary>Runs file work; a <see cref="TransferException"/> ends the transfer with its reason, by
    /// <paramref name="failed"/> if given, else at both ends (<see cref="FailBoth"/>).</summary>
    protected bool Try<T>(Func<T> work, out T result, Action<string>? failed = null)
    {
        try
        {
            result = work();
            return true;
        }
        catch (TransferException e)
        {
            result = default!;
            (failed ?? FailBoth)(e.Message);
            return false;
        }
    }

    protected void Send(Frame frame) => _connection.Tell(new ConnectionMessages.Send(frame));

    /// <summary>A sender, before its Start: the peer's Acks come straight from the connection from now on, until this
    /// transfer ends (<see cref="ConnectionMessages.RouteAcks"/>).</summary>
    protected void TakeAcksDirectly()
    {
        _acksRouted = true;
        _connection.Tell(new ConnectionMessages.RouteAcks(WireId, Self));
    }

    private bool _acksRouted;

    private void StopTakingAcks()
    {
        if (!_acksRouted) return;
        _acksRouted = false;
        _connection.Tell(new ConnectionMessages.UnrouteAcks(WireId, Self));
    }

    protected static void Publish(NodeEvent e) => Context.System.EventStream.Publish(e);

    // ---------------------------------------------------------------- what states take

    /// <summary>For the state that waits for <see cref="HashInSlices"/>: the next slice.</summary>
    protected void HashSteps() => Receive<HashStep>(_ => HashNextSlice());

    /// <summary>For the state in which bytes move: nothing moved for <c>transfer.stall-timeout</c> calls
    /// <paramref name="stalled"/> (each end says why in its own words, and keeps or removes its file).</summary>
    protected void StallChecks(Action<TimeSpan> stalled) => Receive<StallCheck>(_ =>
    {
        if (Now - _lastMovement > _stallTimeout) stalled(_stallTimeout);
    });

    /// <summary>For every state before the end: a tick meant for a state already left is dropped.</summary>
    protected void LateTicks()
    {
        Receive<StallCheck>(_ => { });
        Receive<HashStep>(_ => { });
    }

    private void HashNextSlice()
    {
        if (_hashing is not { } hashing) return;
        if (!Try(() => hashing.Slice(HashSlice), out var finished, failed: reason =>
        {
            _hashing = null;
            hashing.Failed(reason);
        })) return;
        if (!finished)
        {
            Self.Tell(HashStep.Instance);
            return;
        }
        _hashing = null;
        hashing.Done();
    }

    // ---------------------------------------------------------------- ending

    /// <summary>Tells the node's table and the owner, then publishes how the transfer ended: whoever reads the event and
    /// then acts (lists transfers, asks for unfinished sends, offers the next file into the freed slot) finds it over.
    /// Not stopped at once: frames already routed here would become dead letters. The owner stops routing to this
    /// transfer, then lets it go (<see cref="TransferMessages.Finished"/>, <see cref="TransferMessages.Release"/>);
    /// until then late frames are dropped. An answer still owed to this actor (<see cref="AnswerPending"/>) is waited
    /// for before the owner is told.</summary>
    protected void End(NodeEvent ending)
    {
        // Once: a second ending (a late callback of work begun before the first) would tell the owner twice, and its
        // second Release would find this actor gone.
        if (HasEnded) return;
        HasEnded = true;
        _hashing = null;
        Timers.CancelAll();
        StopTakingAcks();
        _transfers.Tell(new TransferMessages.Ended(WireId, _direction, ending is TransferCompleted, ending));
        var waiting = AnswerPending;
        if (!waiting) Context.Parent.Tell(new TransferMessages.Finished(Self));
        Publish(ending);
        if (waiting) Become(AwaitingPendingAnswer);
        else Become(Finishing);
    }

    /// <summary>Ends without an event: the node's table hears <paramref name="forTable"/> instead (a sender whose offer
    /// was refused only for its timing: the file is queued again, and for the user it is still waiting).</summary>
    protected void EndSilently(object forTable)
    {
        if (HasEnded) return;
        HasEnded = true;
        _hashing = null;
        Timers.CancelAll();
        StopTakingAcks();
        _transfers.Tell(forTable);
        Finish();
    }

    /// <summary>True while this actor waits for an answer it must not leave unread when it ends (a receiver's claim on
    /// the partials folder: the answer would be a dead letter, and space it grants must be given back).</summary>
    protected virtual bool AnswerPending => false;

    /// <summary>Registers the handlers of that answer, after the end; each calls <see cref="Finish"/>.</summary>
    protected virtual void PendingAnswer()
    {
    }

    /// <summary>Tells the owner this transfer is over; it stops at the owner's Release.</summary>
    protected void Finish()
    {
        Context.Parent.Tell(new TransferMessages.Finished(Self));
        Become(Finishing);
    }

    private void AwaitingPendingAnswer()
    {
        PendingAnswer();
        Receive<Chunk>(c => c.Release());
        ReceiveAny(_ => { });
    }

    private void Finishing()
    {
        Receive<TransferMessages.Release>(_ => Context.Stop(Self));
        Receive<Chunk>(c => c.Release());
        ReceiveAny(_ => { });
    }
}
