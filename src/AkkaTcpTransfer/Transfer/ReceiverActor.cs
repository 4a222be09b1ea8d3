using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Transfer.Flow;
using AkkaTcpTransfer.Transfer.Storage;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Receives one file. Decides on the offer (a safe name that fits the file system, size, free space reserved,
/// auto-accept or a person's decision), proposes a resume when a partial copy from the same sender exists, writes and
/// hashes each chunk (<see cref="PartialFile"/>) and acknowledges written bytes, which is the sender's flow control
/// (enforced by the router, <see cref="InboundWindow"/>). At the end it compares size and SHA-256 with the sender's,
/// moves the file into place under a name that replaces nothing, and confirms. A lost connection or a stall keeps the
/// partial file (and its hash state) for a resume; a cancel, a mismatch or a write error removes it. Every wait is
/// bounded: a decision (offer-timeout), the sender's Start (start-timeout), data (stall-timeout).
/// Runs on the file-io dispatcher: no file I/O ever happens on the default dispatcher.</summary>
internal sealed class ReceiverActor : ReceiveActor, IWithTimers
{
    private sealed class RehashStep
    {
        public static readonly RehashStep Instance = new();
    }

    private sealed class StallCheck
    {
        public static readonly StallCheck Instance = new();
    }

    private sealed class DecisionTimedOut
    {
        public static readonly DecisionTimedOut Instance = new();
    }

    private sealed class StartTimedOut
    {
        public static readonly StartTimedOut Instance = new();
    }

    private sealed class ClaimTimedOut
    {
        public static readonly ClaimTimedOut Instance = new();
    }

    /// <summary>The partial files actor answers a claim at once; this bounds the wait should it not.</summary>
    private static readonly TimeSpan ClaimTimeout = TimeSpan.FromSeconds(30);

    private const int HashSlice = 8 * 1024 * 1024;

    private readonly Offer _offer;
    private readonly IActorRef _connection;
    private readonly IActorRef _transfers;
    private readonly IActorRef _partials;
    private readonly NodeSettings _settings;
    private readonly string _localName;
    private readonly string _id;
    private readonly string _key;
    private readonly int _maxChunk;
    private readonly InboundWindow _window;
    private readonly DiskReservation _reservation = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string[] _parts = [];
    private IReceiveSink? _file;
    /// <summary>The offer is a folder sent as one transfer (its name ends in '/'): see <see cref="FolderSink"/>.</summary>
    private readonly bool _isFolder;
    private bool _claimed;
    private bool _claimPending;
    private bool _resumable;
    private bool _ended;
    private long _offered;     // offset proposed in Accept
    private long _written;     // bytes on disk
    private long _lastAck;
    private long _ackEvery;
    private Done? _done;
    private ProgressMeter? _meter;
    private TimeSpan _lastMovement;
    private TimeSpan _startedAt;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="origin">Where <c>Offer.SenderId</c> was vouched for (the server, on a client): part of the partial
    /// file's key, so that only the same sender, through the same server, can ever resume it.</param>
    public static Props Props(Offer offer, IActorRef connection, IActorRef transfers, IActorRef partials, NodeSettings settings,
        string localName, int maxChunk, string origin, InboundWindow window) =>
        Akka.Actor.Props.Create(() => new ReceiverActor(offer, connection, transfers, partials, settings, localName, maxChunk, origin, window))
            .WithDispatcher(settings.Transfer.FileIoDispatcher);

    public ReceiverActor(Offer offer, IActorRef connection, IActorRef transfers, IActorRef partials, NodeSettings settings,
        string localName, int maxChunk, string origin, InboundWindow window)
    {
        _offer = offer;
        _connection = connection;
        _transfers = transfers;
        _partials = partials;
        _settings = settings;
        _localName = localName;
        _maxChunk = maxChunk;
        _window = window;
        _id = TransferIds.Format(offer.Id);
        _isFolder = FolderStream.IsFolderOffer(offer.File);
        // A partial belongs to the sender's identity (a digest of its secret resume key), not to its name, which
        // someone else may take once the sender has left.
        _key = PartialKey.For(origin, offer.SenderId, offer.From, offer.File, offer.Size, offer.Fingerprint);
        Become(Deciding);
    }

    protected override void PreStart()
    {
        _transfers.Tell(new TransferMessages.Attached(_offer.Id, _offer.File, TransferDirection.Receive, _offer.From, _offer.Size, Self));
        Publish(new TransferOffered(_id, _offer.File, _offer.Size, _offer.From, _localName));
        if (SafeNames.Validate(_isFolder ? _offer.File[..^1] : _offer.File, out var unsafeReason) is not { } parts)
        {
            Refuse($"unsafe file name: {unsafeReason}");
            return;
        }
        if (SafeNames.FitsFileSystem(_settings.Downloads, parts) is { } tooLong)
        {
            Refuse(tooLong);
            return;
        }
        _parts = parts;
        if (_isFolder && SafeNames.Combine(_settings.Downloads, parts) is var target && (File.Exists(target) || new FileInfo(target).LinkTarget is not null))
        {
            Refuse($"a file named '{_offer.File[..^1]}' is in the way of the folder");
            return;
        }
        if (_offer.Size > _settings.Transfer.MaxFileSize)
        {
            Refuse($"the file ({Units.Bytes(_offer.Size)}) is larger than this node accepts ({Units.Bytes(_settings.Transfer.MaxFileSize)})");
            return;
        }
        if (_settings.Transfer.AutoAccept) AcceptOffer();
        else Timers.StartSingleTimer(nameof(DecisionTimedOut), DecisionTimedOut.Instance, _settings.Transfer.OfferTimeout);
    }

    /// <summary>Stopped without having ended (its parent stopped it after a failure, or it was killed): fail the transfer
    /// at both ends and remove the partial file, so that nothing is left locked or half done. Never restarted.</summary>
    protected override void PostStop()
    {
        if (!_ended)
        {
            _ended = true;
            const string reason = "the receiving transfer actor stopped unexpectedly";
            Send(new Fail(_offer.Id, reason));
            _file?.Discard();
            ReleaseClaim();
            _transfers.Tell(new TransferMessages.Ended(_offer.Id, TransferDirection.Receive, Delivered: false));
            Publish(new TransferFailed(_id, _offer.File, reason));
        }
        _file?.Dispose();
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
        Receive<DecisionTimedOut>(_ => Refuse($"nobody accepted the offer within {Units.Seconds(_settings.Transfer.OfferTimeout)}"));
        Common();
    }

    private void Opening(bool privatePartial)
    {
        Receive<PartialFilesActor.ClaimRefused>(r =>
        {
            _claimPending = false;
            Timers.Cancel(nameof(ClaimTimedOut));
            _claimed = false;
            Refuse(r.Reason);
        });
        Receive<ClaimTimedOut>(_ => Refuse("the downloads folder did not answer in time"));
        Receive<PartialFilesActor.Claimed>(c =>
        {
            _claimPending = false;
            Timers.Cancel(nameof(ClaimTimedOut));
            _resumable = c.Resumable;
            _file = _isFolder ? new FolderSink(c.Path, _settings.Transfer.FolderMaxFiles, _settings.Downloads, _offer.File[..^1]) : new PartialFile(c.Path);
            bool ready;
            try
            {
                ready = _file.Open(_offer.Size, c.Parked);
            }
            catch (TransferException e) when (e.InUseElsewhere && !privatePartial)
            {
                // Another process that shares this downloads folder is receiving the same file: write our own copy.
                _file.Dispose();
                _file = null;
                ReleaseClaim();
                Claim(privatePartial: true);
                return;
            }
            catch (TransferException e)
            {
                Refuse(e.Message);
                return;
            }
            if (ready) SendAccept();
            else Self.Tell(RehashStep.Instance);
        });
        Receive<RehashStep>(_ =>
        {
            // A partial file from an earlier run of this program: hash what is there, a slice at a time.
            if (!Try(() => _file!.Rehash(HashSlice), out var done, refuse: true)) return;
            if (done) SendAccept();
            else Self.Tell(RehashStep.Instance);
        });
        Common();
    }

    private void AwaitingStart()
    {
        Receive<Start>(s =>
        {
            Timers.Cancel(nameof(StartTimedOut));
            if (s.Offset != _offered && s.Offset != 0)
            {
                Violation($"the sender started at byte {s.Offset}, neither 0 nor the offered {_offered}");
                return;
            }
            if (s.Offset == 0 && _offered > 0 && !Try(() => { _file!.Restart(); return true; }, out _)) return;
            _written = _lastAck = s.Offset;
            // Acks are cumulative: one per quarter of the sender's window keeps it streaming with a quarter of the traffic;
            // at least one per MaxAckInterval, so that a sender may start below the window it declared and grow.
            _ackEvery = Math.Max(1, Math.Min(s.Window / 4, ProtocolLimits.MaxAckInterval));
            _startedAt = _lastMovement = _clock.Elapsed;
            _meter = new ProgressMeter(_offer.Size, s.Offset, _settings.Transfer.ProgressInterval, _clock.Elapsed);
            var started = new TransferStarted(_id, _offer.File, _offer.Size, _offer.From, _localName, TransferDirection.Receive, s.Offset);
            // The node's table first: whoever sees the event and lists transfers finds this one moving.
            _transfers.Tell(started);
            Publish(started);
            Timers.StartPeriodicTimer(nameof(StallCheck), StallCheck.Instance, StallInterval());
            Become(Streaming);
            MaybeComplete();
        });
        Receive<StartTimedOut>(_ =>
            FailBoth($"the sender did not start within {Units.Seconds(_settings.Transfer.StartTimeout)} of the acceptance"));
        Common();
    }

    private void Streaming()
    {
        Receive<Chunk>(OnChunk);
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
        Receive<StallCheck>(_ =>
        {
            if (_clock.Elapsed - _lastMovement <= _settings.Transfer.StallTimeout) return;
            Send(new Fail(_offer.Id, "no data arrived for too long"));
            Suspend($"no data arrived for {Units.Seconds(_settings.Transfer.StallTimeout)}; send the file again to resume");
        });
        Common();
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
        Receive<TransferMessages.Violation>(v => Violation(v.What));
        Receive<TransferMessages.Decide>(_ => { });
        Receive<ConnectionMessages.SendFailed>(f => Discard(new TransferFailed(_id, _offer.File, $"could not send {f.Frame.Type}: {f.Reason}")));
        Receive<TransferFrame>(f => Violation($"unexpected {f.Type} frame"));
        Receive<StallCheck>(_ => { });
        Receive<RehashStep>(_ => { });
        Receive<DecisionTimedOut>(_ => { });
        Receive<StartTimedOut>(_ => { });
        Receive<ClaimTimedOut>(_ => { });
    }

    // ---------------------------------------------------------------- handlers

    /// <summary>A file below transfer.resume-min-size gets a private partial: never kept for a resume, so no
    /// description beside it and no tidying of older versions (one file creation per file).</summary>
    private void AcceptOffer() => Claim(privatePartial: _offer.Size < _settings.Transfer.ResumeMinSize);

    private void Claim(bool privatePartial)
    {
        _claimed = true;
        _claimPending = true;
        _partials.Tell(new PartialFilesActor.Claim(_key, _offer.Id, _offer.Size, privatePartial, _reservation,
            new PartialFilesActor.PartialMeta(_offer.File, _offer.From, _offer.Size, DateTimeOffset.UtcNow)));
        Timers.StartSingleTimer(nameof(ClaimTimedOut), ClaimTimedOut.Instance, ClaimTimeout);
        Become(() => Opening(privatePartial));
    }

    private void SendAccept()
    {
        _offered = _file!.Length;
        var granted = _window.Grant(_maxChunk, _settings.Transfer.MaxWindow);
        Send(new Accept(_offer.Id, _offered, _offered > 0 ? _file.CurrentHash : [], _maxChunk, granted));
        Timers.StartSingleTimer(nameof(StartTimedOut), StartTimedOut.Instance, _settings.Transfer.StartTimeout);
        Become(AwaitingStart);
    }

    private void OnChunk(Chunk chunk)
    {
        // The router has checked order, size and window already (InboundWindow); these checks guard the file itself.
        if (chunk.Offset != _written || _written + chunk.Data.Length > _offer.Size)
        {
            Violation($"chunk of {chunk.Data.Length} bytes at {chunk.Offset} does not fit (written {_written}, size {_offer.Size})");
            return;
        }
        if (!Try(() => { _file!.Write(chunk.Offset, chunk.Data.Span); return true; }, out _)) return;
        _reservation.Wrote(chunk.Data.Length);
        chunk.Release(); // written and hashed: the decoder's pooled buffer can go back
        _written = _file!.Length;
        _lastMovement = _clock.Elapsed;
        if (_written - _lastAck >= _ackEvery || _written == _offer.Size)
        {
            _lastAck = _written;
            _window.Acknowledged(_written);
            Send(new Ack(_offer.Id, _written));
        }
        if (_meter!.Due(_clock.Elapsed) && _written < _offer.Size) ReportProgress();
        MaybeComplete();
    }

    private void MaybeComplete()
    {
        if (_done is null || _written != _offer.Size) return;
        var streamed = _clock.Elapsed;
        if (!Try(() => _file!.Complete(_settings.Transfer.SyncOnComplete), out var sha)) return;
        var synced = _clock.Elapsed;
        if (!sha.AsSpan().SequenceEqual(_done.Sha256))
        {
            FailBoth($"SHA-256 mismatch: received {Convert.ToHexStringLower(sha)}, sender has {Convert.ToHexStringLower(_done.Sha256)}");
            return;
        }
        if (!Try(() => _file!.Place(_settings.Downloads, _parts), out var path)) return;
        if (_file is FolderSink folder)
            Context.GetLogger().Info(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{_offer.File} from {_offer.From}: {folder.Files} files ({folder.Identical} already there, identical, left as they were); streamed in {(streamed - _startedAt).TotalSeconds:0.000} s, synced in {(synced - streamed).TotalSeconds:0.000} s, placed in {(_clock.Elapsed - synced).TotalSeconds:0.000} s"));
        Send(new Verified(_offer.Id, sha));
        ReleaseClaim();
        ReportProgress();
        End(new TransferCompleted(_id, _offer.File, path, _offer.Size, Convert.ToHexStringLower(sha), (_clock.Elapsed - _startedAt).TotalSeconds,
            _file is FolderSink sink ? sink.Files : 1));
    }

    private void ReportProgress()
    {
        var (rate, eta) = _meter!.Report(_written, _clock.Elapsed);
        var progress = new TransferProgress(_id, _offer.File, _written, _offer.Size, rate, eta);
        // The node's table first: whoever sees the event and lists transfers finds at least these bytes.
        _transfers.Tell(progress);
        Publish(progress);
    }

    /// <summary>Runs file work; a <see cref="TransferException"/> ends the transfer at both ends (as a refusal while
    /// the offer is still open) and removes the partial file.</summary>
    private bool Try<T>(Func<T> work, out T result, bool refuse = false)
    {
        try
        {
            result = work();
            return true;
        }
        catch (TransferException e)
        {
            result = default!;
            if (refuse) Refuse(e.Message);
            else FailBoth(e.Message);
            return false;
        }
    }

    // ---------------------------------------------------------------- ending

    /// <summary>Refuse the offer (before any byte moved).</summary>
    private void Refuse(string reason)
    {
        Send(new Reject(_offer.Id, reason));
        Discard(new TransferFailed(_id, _offer.File, $"refused: {reason}"));
    }

    /// <summary>The sender broke the transfer protocol: fail it at both ends; the connection carries on.</summary>
    private void Violation(string what) => FailBoth($"protocol violation: {what}");

    private void FailBoth(string reason)
    {
        Send(new Fail(_offer.Id, reason));
        Discard(new TransferFailed(_id, _offer.File, reason));
    }

    /// <summary>Removes the partial file, then ends with <paramref name="ending"/>.</summary>
    private void Discard(NodeEvent ending)
    {
        _file?.Discard();
        ReleaseClaim();
        End(ending);
    }

    /// <summary>Gives back the partial's key and the reserved space (the partial is gone or moved into place).</summary>
    private void ReleaseClaim()
    {
        if (!_claimed) return;
        _claimed = false;
        _partials.Tell(new PartialFilesActor.Release(_reservation));
    }

    /// <summary>Keeps the partial file and its hash state for a resume (only the resumable, shared partial: a private
    /// one is removed), then ends as failed.</summary>
    private void Suspend(string reason)
    {
        if (_file is null)
        {
            ReleaseClaim();
            End(new TransferFailed(_id, _offer.File, reason));
            return;
        }
        if (!_resumable)
        {
            Discard(new TransferFailed(_id, _offer.File, reason.Replace("; send the file again to resume", "", StringComparison.Ordinal)));
            return;
        }
        _claimed = false;
        _partials.Tell(new PartialFilesActor.Park(_reservation, _file.Suspend()));
        End(new TransferFailed(_id, _offer.File, reason));
    }

    /// <summary>Tells the node and the owner, then publishes how it ended: whoever reads the event and then acts (lists
    /// transfers, offers the next file into the freed slot) finds this transfer over.</summary>
    private void End(NodeEvent ending)
    {
        _ended = true;
        Timers.CancelAll();
        _transfers.Tell(new TransferMessages.Ended(_offer.Id, TransferDirection.Receive, ending is TransferCompleted));
        // Not stopped at once: frames already routed here would become dead letters. The owner stops routing to this
        // transfer, then lets it go (TransferMessages.Finished, Release); until then late frames are dropped here.
        // A claim still unanswered is waited for first: its answer would be a dead letter too, and a granted claim
        // must be given back.
        if (!_claimPending) Context.Parent.Tell(new TransferMessages.Finished(Self));
        Publish(ending);
        if (!_claimPending)
        {
            Become(Finishing);
            return;
        }
        Become(() =>
        {
            Receive<PartialFilesActor.Claimed>(_ => ClaimAnsweredAfterEnd(granted: true));
            Receive<PartialFilesActor.ClaimRefused>(_ => ClaimAnsweredAfterEnd(granted: false));
            Receive<Chunk>(c => c.Release());
            ReceiveAny(_ => { });
        });
    }

    private void ClaimAnsweredAfterEnd(bool granted)
    {
        _claimPending = false;
        if (granted) _partials.Tell(new PartialFilesActor.Release(_reservation));
        Context.Parent.Tell(new TransferMessages.Finished(Self));
        Become(Finishing);
    }

    private void Finishing()
    {
        Receive<TransferMessages.Release>(_ => Context.Stop(Self));
        Receive<Chunk>(c => c.Release());
        ReceiveAny(_ => { });
    }

    private void Send(Frame frame) => _connection.Tell(new ConnectionMessages.Send(frame));

    private static void Publish(NodeEvent e) => Context.System.EventStream.Publish(e);

    private TimeSpan StallInterval() => TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, _settings.Transfer.StallTimeout.Ticks / 4));
}
