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
/// moves the file into place under a name that replaces nothing, and confirms. A lost connection, a stall or the other
/// end's Fail keeps the partial file (and its hash state) for a resume; a cancel, a mismatch or a write error removes
/// it. Every wait is bounded: a decision (offer-timeout), the sender's Start (start-timeout), data (stall-timeout).
/// Runs on the file-io dispatcher: its writes and the fsync before the rename never hold a thread the connections need.
/// How it attaches, reports, stalls and ends is <see cref="TransferActor"/>'s, shared with the sender.</summary>
internal sealed class ReceiverActor : TransferActor
{
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

    private readonly Offer _offer;
    private readonly IActorRef _partials;
    private readonly NodeSettings _settings;
    private readonly string _key;
    private readonly int _maxChunk;
    private readonly InboundWindow _window;
    private readonly DiskReservation _reservation = new();
    private string[] _parts = [];
    private IReceiveSink? _file;
    /// <summary>The offer is a folder sent as one transfer (its name ends in '/'): see <see cref="FolderSink"/>.</summary>
    private readonly bool _isFolder;
    private bool _claimed;
    private bool _claimPending;
    private bool _resumable;
    private long _offered;     // offset proposed in Accept
    private long _written;     // bytes on disk
    private long _lastAck;
    private long _ackEvery;
    private Done? _done;
    /// <summary>An upload the server keeps for its recipients: it lands in the spool, which must record it before the
    /// sender hears Verified.</summary>
    private readonly SpoolUpload? _spool;
    private bool _kept;

    /// <param name="origin">Where <c>Offer.SenderId</c> was vouched for (the server, on a client): part of the partial
    /// file's key, so that only the same sender, through the same server, can ever resume it.</param>
    public static Props Props(Offer offer, IActorRef connection, IActorRef transfers, IActorRef partials, NodeSettings settings,
        string localName, int maxChunk, string origin, InboundWindow window, SpoolUpload? spool = null) =>
        Akka.Actor.Props.Create(() => new ReceiverActor(offer, connection, transfers, partials, settings, localName, maxChunk, origin, window, spool))
            .WithDispatcher(settings.Transfer.FileIoDispatcher);

    public ReceiverActor(Offer offer, IActorRef connection, IActorRef transfers, IActorRef partials, NodeSettings settings,
        string localName, int maxChunk, string origin, InboundWindow window, SpoolUpload? spool)
        : base(offer.Id, offer.File, offer.Size, TransferDirection.Receive, offer.From, localName, connection, transfers, settings)
    {
        _spool = spool;
        _offer = offer;
        _partials = partials;
        _settings = settings;
        _maxChunk = maxChunk;
        _window = window;
        _isFolder = FolderStream.IsFolderOffer(offer.File);
        // A partial belongs to the sender's identity (a digest of its secret resume key), not to its name, which
        // someone else may take once the sender has left.
        _key = PartialKey.For(origin, offer.SenderId, offer.From, offer.File, offer.Size, offer.Fingerprint);
        Become(Deciding);
    }

    protected override void PreStart()
    {
        base.PreStart();
        Publish(new TransferOffered(Id, _offer.File, _offer.Size, _offer.From, LocalName));
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
        if (_settings.Transfer.AutoAccept || _spool is not null) AcceptOffer();
        else Timers.StartSingleTimer(nameof(DecisionTimedOut), DecisionTimedOut.Instance, _settings.Transfer.OfferTimeout);
    }

    /// <summary>Stopped without having ended: the partial file is removed and the claim given back, so that nothing is
    /// left locked or half done.</summary>
    protected override void GiveBack()
    {
        _file?.Discard();
        ReleaseClaim();
    }

    protected override void CloseFiles() => _file?.Dispose();

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
            // A partial file from an earlier run of this program: hash what is there first, a slice at a time.
            if (ready) SendAccept();
            else HashInSlices(slice => _file!.Rehash(slice), SendAccept, Refuse);
        });
        HashSteps();
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
            Started(s.Offset);
            Become(Streaming);
            MaybeComplete();
        });
        Receive<StartTimedOut>(_ =>
            FailBoth($"the sender did not start within {Units.Seconds(_settings.Transfer.StartTimeout)} of the acceptance"));
        Receive<Fail>(PeerFailed);
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
        StallChecks(timeout =>
        {
            Send(new Fail(_offer.Id, "no data arrived for too long"));
            Suspend($"no data arrived for {Units.Seconds(timeout)}; send the file again to resume");
        });
        Receive<Fail>(PeerFailed);
        Common();
    }

    private void Common()
    {
        Receive<Cancel>(c => Discard(new TransferCancelled(Id, _offer.File, c.By.Length > 0 ? c.By : _offer.From)));
        Receive<Fail>(f => Discard(new TransferFailed(Id, _offer.File, $"{_offer.From}: {f.Reason}")));
        Receive<TransferMessages.CancelLocal>(c =>
        {
            Send(new Cancel(_offer.Id, c.By, "cancelled by the receiver"));
            Discard(new TransferCancelled(Id, _offer.File, c.By));
        });
        Receive<TransferMessages.ConnectionLost>(l => Suspend($"connection lost ({l.Reason}); send the file again to resume"));
        Receive<TransferMessages.Violation>(v => Violation(v.What));
        Receive<TransferMessages.Decide>(_ => { });
        Receive<ConnectionMessages.SendFailed>(f => Discard(new TransferFailed(Id, _offer.File, $"could not send {f.Frame.Type}: {f.Reason}")));
        Receive<TransferFrame>(f => Violation($"unexpected {f.Type} frame"));
        LateTicks();
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
        Moved();
        if (_written - _lastAck >= _ackEvery || _written == _offer.Size)
        {
            _lastAck = _written;
            _window.Acknowledged(_written);
            Send(new Ack(_offer.Id, _written));
        }
        ReportProgressIfDue(_written);
        MaybeComplete();
    }

    private void MaybeComplete()
    {
        if (_done is null || _written != _offer.Size) return;
        var streamed = Now;
        if (!Try(() => _file!.Complete(_settings.Transfer.SyncOnComplete), out var sha)) return;
        var synced = Now;
        if (!sha.AsSpan().SequenceEqual(_done.Sha256))
        {
            FailBoth($"SHA-256 mismatch: received {Convert.ToHexStringLower(sha)}, sender has {Convert.ToHexStringLower(_done.Sha256)}");
            return;
        }
        if (_spool is { } spool)
        {
            // Into the spool's incoming folder; the spool records it, files it under its hash, and only then answers.
            if (!Try(() => _file!.Place(spool.Folder, ["incoming", Convert.ToHexStringLower(sha)]), out var landed)) return;
            _file!.Dispose();
            spool.Spool.Tell(new SpoolMessages.Uploaded(spool.Token, landed, sha));
            Timers.StartSingleTimer(nameof(ClaimTimedOut), ClaimTimedOut.Instance, ClaimTimeout);
            Become(() => Keeping(sha));
            return;
        }
        if (!Try(() => _file!.Place(_settings.Downloads, _parts), out var path)) return;
        if (_file is FolderSink folder)
            Context.GetLogger().Info(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{_offer.File} from {_offer.From}: {folder.Files} files ({folder.Identical} already there, identical, left as they were); streamed in {(streamed - StartedAt).TotalSeconds:0.000} s, synced in {(synced - streamed).TotalSeconds:0.000} s, placed in {(Now - synced).TotalSeconds:0.000} s"));
        Send(new Verified(_offer.Id, sha));
        ReleaseClaim();
        ReportProgress(_written);
        End(new TransferCompleted(Id, _offer.File, path, _offer.Size, Convert.ToHexStringLower(sha), (Now - StartedAt).TotalSeconds,
            _file is FolderSink sink ? sink.Files : 1));
    }

    /// <summary>A spool upload, verified and landed: waiting for the spool to record it.</summary>
    private void Keeping(byte[] sha)
    {
        Receive<SpoolMessages.Kept>(k =>
        {
            Timers.Cancel(nameof(ClaimTimedOut));
            _kept = true;
            Send(new Verified(_offer.Id, sha));
            Send(new Held(_offer.Id, k.FileId, k.Recipients));
            ReleaseClaim();
            ReportProgress(_written);
            End(new TransferCompleted(Id, _offer.File, k.Path, _offer.Size, Convert.ToHexStringLower(sha), (Now - StartedAt).TotalSeconds));
        });
        Receive<ClaimTimedOut>(_ => Self.Tell(new SpoolMessages.KeepFailed($"the server could not record the file within {Units.Seconds(ClaimTimeout)}")));
        Receive<SpoolMessages.KeepFailed>(f =>
        {
            Send(new Fail(_offer.Id, f.Reason));
            ReleaseClaim();
            End(new TransferFailed(Id, _offer.File, f.Reason));
        });
        Common();
    }

    protected override void PostStop()
    {
        base.PostStop();
        // However it ended, the spool's reservation for an upload it did not keep goes back.
        if (_spool is { } spool && !_kept) spool.Spool.Tell(new SpoolMessages.UploadEnded(spool.Token));
    }

    // ---------------------------------------------------------------- ending

    /// <summary>Refuse the offer (before any byte moved).</summary>
    private void Refuse(string reason)
    {
        Send(new Reject(_offer.Id, reason));
        Discard(new TransferFailed(Id, _offer.File, $"refused: {reason}"));
    }

    /// <summary>The other end (or a server between us) failed the transfer once bytes could move: what arrived was
    /// written and hashed, and the SHA-256 at the end decides what lands, so the partial is kept for a resume, as for a
    /// lost connection. A node of the server dying with the relay says exactly this; a person's Cancel removes it.</summary>
    private void PeerFailed(Fail fail) => Suspend($"{_offer.From}: {fail.Reason}");

    /// <summary>The sender broke the transfer protocol: fail it at both ends; the connection carries on.</summary>
    private void Violation(string what) => FailBoth($"protocol violation: {what}");

    protected override void FailBoth(string reason)
    {
        Send(new Fail(_offer.Id, reason));
        Discard(new TransferFailed(Id, _offer.File, reason));
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
            End(new TransferFailed(Id, _offer.File, reason));
            return;
        }
        if (!_resumable)
        {
            Discard(new TransferFailed(Id, _offer.File, reason.Replace("; send the file again to resume", "", StringComparison.Ordinal)));
            return;
        }
        _claimed = false;
        _partials.Tell(new PartialFilesActor.Park(_reservation, _file.Suspend()));
        End(new TransferFailed(Id, _offer.File, reason));
    }

    /// <summary>A claim still unanswered when the transfer ends is waited for: its answer would be a dead letter, and a
    /// granted claim must be given back.</summary>
    protected override bool AnswerPending => _claimPending;

    protected override void PendingAnswer()
    {
        Receive<PartialFilesActor.Claimed>(_ => ClaimAnsweredAfterEnd(granted: true));
        Receive<PartialFilesActor.ClaimRefused>(_ => ClaimAnsweredAfterEnd(granted: false));
    }

    private void ClaimAnsweredAfterEnd(bool granted)
    {
        _claimPending = false;
        if (granted) _partials.Tell(new PartialFilesActor.Release(_reservation));
        Finish();
    }
}
