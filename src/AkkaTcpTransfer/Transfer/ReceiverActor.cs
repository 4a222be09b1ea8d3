using System.Diagnostics;
using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Receives one file. Decides on the offer (a safe name, size and free space, auto-accept or a person's
/// decision), proposes a resume when a partial copy exists, writes chunks through its <see cref="FileWriterActor"/>
/// child and acknowledges each one only once it is written, which is the sender's flow control. At the end it
/// compares size and SHA-256 with the sender's, moves the file into place under a name that replaces nothing, and
/// confirms. A lost connection or a stall keeps the partial file (and its hash state) for a resume; a cancel, a
/// mismatch or a write error removes it.</summary>
internal sealed class ReceiverActor : ReceiveActor, IWithTimers
{
    private sealed class StallCheck
    {
        public static readonly StallCheck Instance = new();
    }

    private sealed class DecisionTimedOut
    {
        public static readonly DecisionTimedOut Instance = new();
    }

    private readonly Offer _offer;
    private readonly IActorRef _connection;
    private readonly IActorRef _transfers;
    private readonly IActorRef _partials;
    private readonly NodeSettings _settings;
    private readonly string _localName;
    private readonly string _id;
    private readonly string _key;
    private readonly int _maxChunk;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string[] _parts = [];
    private IActorRef _writer = ActorRefs.Nobody;
    private bool _resumable;
    private long _offered;     // offset proposed in Accept
    private long _received;    // bytes handed to the writer
    private long _written;     // bytes on disk
    private Done? _done;
    private ProgressMeter? _meter;
    private TimeSpan _lastMovement;
    private TimeSpan _startedAt;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Offer offer, IActorRef connection, IActorRef transfers, IActorRef partials, NodeSettings settings, string localName, int maxChunk) =>
        Akka.Actor.Props.Create(() => new ReceiverActor(offer, connection, transfers, partials, settings, localName, maxChunk));

    public ReceiverActor(Offer offer, IActorRef connection, IActorRef transfers, IActorRef partials, NodeSettings settings, string localName, int maxChunk)
    {
        _offer = offer;
        _connection = connection;
        _transfers = transfers;
        _partials = partials;
        _settings = settings;
        _localName = localName;
        _maxChunk = maxChunk;
        _id = TransferIds.Format(offer.Id);
        _key = PartialKey.For(offer.From, offer.File, offer.Size, offer.Fingerprint);
        Become(Deciding);
    }

    protected override void PreStart()
    {
        _transfers.Tell(new TransferMessages.Attached(_offer.Id, _offer.File, TransferDirection.Receive, _offer.From, _offer.Size, Self));
        Publish(new TransferOffered(_id, _offer.File, _offer.Size, _offer.From, _localName));
        if (SafeNames.Validate(_offer.File, out var unsafeReason) is not { } parts)
        {
            Refuse($"unsafe file name: {unsafeReason}");
            return;
        }
        _parts = parts;
        if (_offer.Size > _settings.Transfer.MaxFileSize)
        {
            Refuse($"the file ({Units.Bytes(_offer.Size)}) is larger than this node accepts ({Units.Bytes(_settings.Transfer.MaxFileSize)})");
            return;
        }
        if (_settings.Transfer.AutoAccept) AcceptOffer();
        else Timers.StartSingleTimer(nameof(DecisionTimedOut), DecisionTimedOut.Instance, _settings.Transfer.OfferTimeout);
    }

    // ---------------------------------------------------------------- states

    private void Deciding()
    {
        Receive<TransferMessages.Decide>(d =>
        {
            Timers.Cancel(nameof(DecisionTimedOut));
            if (d.Accept) AcceptOffer();
            else Refuse(d.Reason);
        });
        Receive<DecisionTimedOut>(_ => Refuse("nobody accepted the offer in time"));
        Common();
    }

    private void Opening()
    {
        Receive<PartialFilesActor.Claimed>(c =>
        {
            _resumable = c.Resumable;
            _writer = Context.ActorOf(FileWriterActor.Props(c.Path, _settings.Transfer), "writer");
            _writer.Tell(new FileWriterActor.Open(_offer.Size, c.Parked));
        });
        Receive<FileWriterActor.Opened>(o =>
        {
            _offered = o.Offset;
            Send(new Accept(_offer.Id, o.Offset, o.PrefixSha256, _maxChunk, _settings.Transfer.Window));
            Become(AwaitingStart);
        });
        Receive<FileWriterActor.WriteFailed>(f => Refuse(f.Reason, discard: true));
        Common();
    }

    private void AwaitingStart()
    {
        Receive<Start>(s =>
        {
            if (s.Offset != _offered && s.Offset != 0)
            {
                Violation($"the sender started at byte {s.Offset}, neither 0 nor the offered {_offered}");
                return;
            }
            if (s.Offset == 0 && _offered > 0) _writer.Tell(FileWriterActor.Restart.Instance);
            _received = _written = s.Offset;
            _startedAt = _lastMovement = _clock.Elapsed;
            _meter = new ProgressMeter(_offer.Size, s.Offset, _settings.Transfer.ProgressInterval, _clock.Elapsed);
            Publish(new TransferStarted(_id, _offer.File, _offer.Size, _offer.From, _localName, TransferDirection.Receive, s.Offset));
            Timers.StartPeriodicTimer(nameof(StallCheck), StallCheck.Instance, StallInterval());
            Become(Streaming);
            MaybeComplete();
        });
        Receive<FileWriterActor.WriteFailed>(f => FailBoth(f.Reason));
        Common();
    }

    private void Streaming()
    {
        Receive<Chunk>(OnChunk);
        Receive<FileWriterActor.Written>(w =>
        {
            _written = w.Length;
            _lastMovement = _clock.Elapsed;
            Send(new Ack(_offer.Id, _written));
            if (_meter!.Due(_clock.Elapsed) && _written < _offer.Size) ReportProgress();
            MaybeComplete();
        });
        Receive<Done>(d =>
        {
            if (d.Size != _offer.Size)
            {
                FailBoth($"size mismatch: offered {_offer.Size} bytes, finished at {d.Size}");
                return;
            }
            _done = d;
            MaybeComplete();
        });
        Receive<FileWriterActor.Completed>(OnCompleted);
        Receive<FileWriterActor.Placed>(OnPlaced);
        Receive<FileWriterActor.WriteFailed>(f => FailBoth(f.Reason));
        Receive<StallCheck>(_ =>
        {
            if (_clock.Elapsed - _lastMovement > _settings.Transfer.StallTimeout)
            {
                Send(new Fail(_offer.Id, "no data arrived for too long"));
                Suspend($"no data arrived for {_settings.Transfer.StallTimeout.TotalSeconds:0} s; send the file again to resume");
            }
        });
        Common();
    }

    /// <summary>Waiting for the writer to hand over the hash state of the kept partial file, then park it.</summary>
    private void Suspending(string reason)
    {
        Receive<FileWriterActor.Suspended>(s =>
        {
            if (_resumable) _partials.Tell(new PartialFilesActor.Park(_key, s.State));
            else s.State.Hash.Dispose();
            End(new TransferFailed(_id, _offer.File, reason));
        });
        Receive<FileWriterActor.WriteFailed>(_ => End(new TransferFailed(_id, _offer.File, reason)));
        ReceiveAny(_ => { });
    }

    /// <summary>Waiting for the writer to delete the partial file, then end with <paramref name="ending"/>.</summary>
    private void Discarding(NodeEvent ending)
    {
        Receive<FileWriterActor.Discard>(_ =>
        {
            if (_resumable) _partials.Tell(new PartialFilesActor.Release(_key));
            End(ending);
        });
        ReceiveAny(_ => { });
    }

    private void Common()
    {
        Receive<Cancel>(c => Discard(new TransferCancelled(_id, _offer.File, c.By.Length > 0 ? c.By : _offer.From)));
        Receive<Fail>(f => Discard(new TransferFailed(_id, _offer.File, $"{_offer.From}: {f.Reason}")));
        Receive<TransferMessages.CancelLocal>(c =>
        {
            Send(new Cancel(_offer.Id, c.By, "cancelled by the receiver"));
            Discard(new TransferCancelled(_id, _offer.File, c.By));
        });
        Receive<TransferMessages.ConnectionLost>(l => Suspend($"connection lost ({l.Reason}); send the file again to resume"));
        Receive<TransferMessages.Decide>(_ => { });
        Receive<TransferFrame>(f => Violation($"unexpected {f.Type} frame"));
        Receive<StallCheck>(_ => { });
        Receive<DecisionTimedOut>(_ => { });
    }

    // ---------------------------------------------------------------- handlers

    private void AcceptOffer()
    {
        _partials.Tell(new PartialFilesActor.Claim(_key, _offer.Id));
        Become(Opening);
    }

    private void OnChunk(Chunk chunk)
    {
        if (chunk.Offset != _received)
        {
            Violation($"chunk at byte {chunk.Offset}, expected byte {_received}");
            return;
        }
        if (chunk.Data.Length > _maxChunk || _received + chunk.Data.Length > _offer.Size)
        {
            Violation($"chunk of {chunk.Data.Length} bytes at {chunk.Offset} does not fit (max chunk {_maxChunk}, size {_offer.Size})");
            return;
        }
        if (_received + chunk.Data.Length - _written > _settings.Transfer.Window)
        {
            Violation("the sender ignored the flow-control window");
            return;
        }
        _received += chunk.Data.Length;
        _writer.Tell(new FileWriterActor.Write(chunk.Offset, chunk.Data));
    }

    private bool _completing;

    private void MaybeComplete()
    {
        if (_done is null || _completing || _written != _offer.Size || _received != _offer.Size) return;
        _completing = true;
        _writer.Tell(FileWriterActor.Complete.Instance);
    }

    private void OnCompleted(FileWriterActor.Completed completed)
    {
        if (!completed.Sha256.AsSpan().SequenceEqual(_done!.Sha256))
        {
            FailBoth($"SHA-256 mismatch: received {Convert.ToHexStringLower(completed.Sha256)}, sender has {Convert.ToHexStringLower(_done.Sha256)}");
            return;
        }
        _writer.Tell(new FileWriterActor.Place(_settings.Downloads, _parts));
    }

    private void OnPlaced(FileWriterActor.Placed placed)
    {
        Send(new Verified(_offer.Id, _done!.Sha256));
        if (_resumable) _partials.Tell(new PartialFilesActor.Release(_key));
        ReportProgress();
        Publish(new TransferCompleted(_id, _offer.File, placed.Path, _offer.Size, Convert.ToHexStringLower(_done.Sha256),
            (_clock.Elapsed - _startedAt).TotalSeconds));
        End(null);
    }

    private void ReportProgress()
    {
        var (rate, eta) = _meter!.Report(_written, _clock.Elapsed);
        Publish(new TransferProgress(_id, _offer.File, _written, _offer.Size, rate, eta));
    }

    // ---------------------------------------------------------------- ending

    /// <summary>Refuse the offer (before any byte moved).</summary>
    private void Refuse(string reason, bool discard = false)
    {
        Send(new Reject(_offer.Id, reason));
        var ending = new TransferFailed(_id, _offer.File, $"refused: {reason}");
        if (discard) Discard(ending);
        else End(ending);
    }

    /// <summary>The sender broke the transfer protocol: fail it at both ends; the connection carries on.</summary>
    private void Violation(string what) => FailBoth($"protocol violation: {what}");

    private void FailBoth(string reason)
    {
        Send(new Fail(_offer.Id, reason));
        Discard(new TransferFailed(_id, _offer.File, reason));
    }

    private void Discard(NodeEvent ending)
    {
        Timers.CancelAll();
        if (_writer.IsNobody())
        {
            End(ending);
            return;
        }
        _writer.Tell(FileWriterActor.Discard.Instance);
        Become(() => Discarding(ending));
    }

    private void Suspend(string reason)
    {
        Timers.CancelAll();
        if (!_resumable && !_writer.IsNobody())
        {
            // A private partial (the resumable one was busy) is never kept.
            Discard(new TransferFailed(_id, _offer.File, reason.Replace("; send the file again to resume", "", StringComparison.Ordinal)));
            return;
        }
        if (_writer.IsNobody())
        {
            if (_resumable) _partials.Tell(new PartialFilesActor.Release(_key));
            End(new TransferFailed(_id, _offer.File, reason));
            return;
        }
        _writer.Tell(FileWriterActor.Suspend.Instance);
        Become(() => Suspending(reason));
    }

    private void End(NodeEvent? ending)
    {
        if (ending is not null) Publish(ending);
        _transfers.Tell(new TransferMessages.Ended(_offer.Id, TransferDirection.Receive, ending is null));
        Context.Stop(Self);
        Become(() => ReceiveAny(_ => { }));
    }

    private void Send(Frame frame) => _connection.Tell(new ConnectionMessages.Send(frame));

    private static void Publish(NodeEvent e) => Context.System.EventStream.Publish(e);

    private TimeSpan StallInterval() => TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, _settings.Transfer.StallTimeout.Ticks / 4));
}
