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

/// <summary>Sends one file: offers it, waits for the receiver's answer, checks a proposed resume against its own bytes,
/// streams chunks, and counts the file delivered only when the receiver confirms size and SHA-256. Flow control is the
/// receiver's: never more than the window beyond the receiver's last Ack, so a slow receiver or disk slows the reads
/// here, and nothing queues without bound. The window starts at <c>transfer.window</c> and follows the path (<see
/// cref="WindowControl"/>), up to what the receiver granted and this connection's <see cref="WindowPool"/> allows. Runs
/// on the send dispatcher (the .NET thread pool, where its connection encodes and encrypts), reading and hashing inline
/// (<see cref="FileSource"/>): a chunk reaches the socket without waking a thread of another pool. Reads are of one
/// chunk, at most a window ahead; a received file's writes and fsync stay on the file-io dispatcher. A child of the
/// connection's owner: it ends with its transfer, and nothing else ends with it. How it attaches, reports, stalls and
/// ends is <see cref="TransferActor"/>'s, shared with the receiver.</summary>
internal sealed class SenderActor : TransferActor
{
    private sealed class AnswerTimedOut
    {
        public static readonly AnswerTimedOut Instance = new();
    }

    private sealed class GraceOver
    {
        public static readonly GraceOver Instance = new();
    }

    /// <summary>SHA-256 of files this process sent whole, by path, size and last-write time: a later send of the same
    /// file to many claims its content without reading it first. Bounded: cleared past <see cref="MaxKnownHashes"/>.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Path, long Size, long Stamp), byte[]> KnownHashes = new();
    private const int MaxKnownHashes = 4096;

    /// <summary>The largest slice a server may ask a proof of possession for.</summary>
    private const int MaxProofLength = 1 << 20;

    private readonly TransferMessages.StartSend _spec;
    private readonly IActorRef _transfers;
    /// <summary>The SHA-256 claimed before the offer (a file for many: the server may keep it already), or null.</summary>
    private byte[]? _claim;
    private readonly NodeSettings _settings;
    private readonly byte[] _senderId;
    private ISendSource? _source;
    /// <summary>Buffers of chunks sent but not yet acknowledged, oldest first: (end offset, buffer, when sent).</summary>
    private readonly Queue<(long End, byte[] Buffer, TimeSpan SentAt)> _unacked = new();
    /// <summary>Buffers of acknowledged chunks, read into again. They are this transfer's alone, never the process's
    /// shared pool: an Ack says the receiver has the bytes, but a hostile receiver may acknowledge bytes still queued
    /// for its socket, and a shared buffer handed out again could then fill with another connection's data before it
    /// is encrypted and sent. Here it can only fill with a later chunk of the same file (whose SHA-256 then fails at
    /// the receiver that lied). At most a window of them; they go with the actor.</summary>
    private readonly Stack<byte[]> _spare = new();
    private readonly WindowPool.Share _share;
    private readonly WindowControl _control = new();
    private long _sent;        // bytes handed to the connection
    private long _acked;       // bytes the receiver has written
    private int _window;       // what is used now
    private int _declared;     // the most it may become: declared in Start, at most what the receiver granted
    private int _floor;        // the least it may be: transfer.window, or the receiver's ack interval if larger
    private int _peakWindow;
    private int _chunk;
    private bool _finished;
    private byte[]? _sha;

    /// <param name="share">This transfer's part of its connection's window pool for outgoing transfers.</param>
    public static Props Props(TransferMessages.StartSend spec, IActorRef connection, IActorRef transfers, NodeSettings settings, string localName, byte[] senderId,
        WindowPool.Share share) =>
        Akka.Actor.Props.Create(() => new SenderActor(spec, connection, transfers, settings, localName, senderId, share))
            .WithDispatcher(settings.Transfer.SendDispatcher);

    public SenderActor(TransferMessages.StartSend spec, IActorRef connection, IActorRef transfers, NodeSettings settings, string localName, byte[] senderId,
        WindowPool.Share share)
        : base(spec.Id, spec.File, spec.Size, TransferDirection.Send, spec.To, localName, connection, transfers, settings)
    {
        _share = share;
        _senderId = senderId;
        _spec = spec;
        _settings = settings;
        _transfers = transfers;
        Become(AwaitingAnswer);
    }

    protected override void PreStart()
    {
        base.PreStart();
        try
        {
            _source = _spec.Bundle is { } bundle ? new FolderSource(bundle) : new FileSource(_spec.Path, _spec.Size, _spec.Stamp ?? _spec.Fingerprint, _spec.Sha256);
        }
        catch (TransferException e)
        {
            Failed(e.Message);
            return;
        }
        // A file for several people or a room is kept by the server, which may hold its content already: claim it by
        // its SHA-256 (hashed first, unless this process sent the same file whole before) and prove it if asked.
        if (_source is FileSource file && _spec.Stamp is null && (_spec.To.Contains(',', StringComparison.Ordinal) || _spec.To.StartsWith('#')))
        {
            if (KnownHashes.TryGetValue((_spec.Path, _spec.Size, _spec.Fingerprint), out var known))
            {
                OfferClaiming(file, known);
                return;
            }
            Become(HashingForClaim);
            HashInSlices(slice => file.HashPrefix(_spec.Size, slice), () =>
            {
                var sha = file.CurrentHash;
                file.RestartHash();
                Remember(sha);
                OfferClaiming(file, sha);
            }, Failed);
            return;
        }
        MakeOffer();
    }

    private void OfferClaiming(FileSource file, byte[] sha)
    {
        _claim = sha;
        file.Know(sha);
        Send(new Claim(_spec.Id, sha));
        Become(AwaitingAnswer);
        MakeOffer();
    }

    private void Remember(byte[] sha)
    {
        if (KnownHashes.Count >= MaxKnownHashes) KnownHashes.Clear();
        KnownHashes[(_spec.Path, _spec.Size, _spec.Fingerprint)] = sha;
    }

    private void MakeOffer()
    {
        Send(new Offer(_spec.Id, LocalName, _senderId, _spec.To, _spec.File, _spec.Size, _spec.Fingerprint));
        Publish(new TransferWaiting(Id, _spec.File, _spec.Size, _spec.To));
        Timers.StartSingleTimer(nameof(AnswerTimedOut), AnswerTimedOut.Instance, _settings.Transfer.AnswerTimeout);
        Timers.StartSingleTimer(nameof(GraceOver), GraceOver.Instance, _settings.Transfer.OfferSlotGrace);
    }

    protected override void CloseFiles() => _source?.Dispose();

    // ---------------------------------------------------------------- states

    private void AwaitingAnswer()
    {
        Receive<Accept>(a =>
        {
            Timers.Cancel(nameof(AnswerTimedOut));
            Timers.Cancel(nameof(GraceOver));
            OnAccept(a);
        });
        Receive<Reject>(r =>
        {
            if (r.Reason.StartsWith(ProtocolLimits.TryLaterPrefix, StringComparison.Ordinal))
                Throttled(slowDown: r.Reason.StartsWith(ProtocolLimits.OfferRateLimitedReason, StringComparison.Ordinal));
            else Failed($"refused by {_spec.To}: {r.Reason}");
        });
        Receive<AnswerTimedOut>(_ => FailBoth($"{_spec.To} did not answer the offer within {Units.Seconds(_settings.Transfer.AnswerTimeout)}"));
        // Still unanswered: a person decides. The node's other sends need not wait for them.
        Receive<GraceOver>(_ => _transfers.Tell(new TransferMessages.AwaitingDecision(_spec.Id)));
        // The server keeps the content claimed already: it asks for a proof, and then confirms without a byte sent.
        Receive<Prove>(p =>
        {
            if (_claim is null || p.Length > MaxProofLength)
            {
                FailBoth(_claim is null ? "the server asked for a proof of content this sender did not claim" : $"the server asked for a proof of {p.Length} bytes");
                return;
            }
            if (Try(() => ((FileSource)_source!).ProofOf(p.Nonce, p.Offset, p.Length), out var proof)) Send(new Proof(_spec.Id, proof));
        });
        Receive<Verified>(v =>
        {
            if (_claim is null || !v.Sha256.AsSpan().SequenceEqual(_claim))
            {
                FailBoth("the server confirmed content this sender did not claim");
                return;
            }
            Timers.Cancel(nameof(AnswerTimedOut));
            Timers.Cancel(nameof(GraceOver));
            End(new TransferCompleted(Id, _spec.File, _spec.Path, _spec.Size, Convert.ToHexStringLower(_claim), Now.TotalSeconds));
        });
        Common();
    }

    /// <summary>Hashing the whole file before offering it to many (<see cref="Claim"/>).</summary>
    private void HashingForClaim()
    {
        HashSteps();
        Common();
    }

    /// <summary>Hashing our first bytes, to compare with the receiver's partial copy (<see cref="OnAccept"/>).</summary>
    private void VerifyingPrefix()
    {
        HashSteps();
        Common();
    }

    private void Streaming()
    {
        Receive<Ack>(OnAck);
        Receive<Verified>(OnVerified);
        StallChecks(timeout => FailBoth($"no progress for {Units.Seconds(timeout)}: the receiver stalled"));
        Common();
    }

    private void Common()
    {
        Receive<Fail>(f => Failed($"{_spec.To}: {f.Reason}"));
        Receive<Cancel>(c => Cancelled(c.By.Length > 0 ? c.By : _spec.To));
        Receive<TransferMessages.CancelLocal>(c =>
        {
            Send(new Cancel(_spec.Id, c.By, "cancelled by the sender"));
            Cancelled(c.By);
        });
        Receive<TransferMessages.ConnectionLost>(l => Failed($"connection lost ({l.Reason}); send the file again to resume"));
        Receive<ConnectionMessages.SendFailed>(f => FailBoth($"could not send {f.Frame.Type}: {f.Reason}"));
        // Frames that can no longer matter in this state (a late Ack, say) are dropped.
        Receive<TransferFrame>(_ => { });
        LateTicks();
        Receive<AnswerTimedOut>(_ => { });
        Receive<GraceOver>(_ => { });
    }

    // ---------------------------------------------------------------- handlers

    private void OnAccept(Accept accept)
    {
        if (accept.Offset > _spec.Size || (accept.Offset > 0 && accept.PrefixSha256.Length != ProtocolLimits.Sha256Length))
        {
            FailBoth($"the receiver proposed an impossible resume at byte {accept.Offset}");
            return;
        }
        // The receiver acknowledges every min(declared / 4, MaxAckInterval) bytes: a window below that would wait for
        // an ack that never comes. So that much is the floor, taken from the pool; should the pool be short, the
        // declaration shrinks until its ack interval fits what was obtained.
        _declared = Math.Max(1, Math.Min(_settings.Transfer.MaxWindow, accept.Window));
        var need = Math.Min(_declared, Math.Max(_settings.Transfer.Window, Math.Min(_declared / 4, ProtocolLimits.MaxAckInterval)));
        var obtained = _share.Resize(need);
        if (obtained < need) _declared = (int)Math.Min(_declared, 4L * obtained);
        _window = _peakWindow = _floor = Math.Min(obtained, _declared);
        _chunk = Math.Max(1, Math.Min(_settings.Transfer.ChunkSize, Math.Min(accept.MaxChunk, _window)));
        if (accept.Offset == 0)
        {
            BeginStreaming(0);
            return;
        }
        var (offset, theirs) = (accept.Offset, accept.PrefixSha256);
        HashInSlices(slice => _source!.HashPrefix(offset, slice), () =>
        {
            var same = _source!.CurrentHash.AsSpan().SequenceEqual(theirs);
            if (!same) _source.RestartHash();
            BeginStreaming(same ? offset : 0);
        }, FailBoth);
        Become(VerifyingPrefix);
    }

    private void BeginStreaming(long offset)
    {
        _sent = _acked = offset;
        _control.Begin(offset, Now);
        TakeAcksDirectly();
        Send(new Start(_spec.Id, offset, _declared));
        Started(offset);
        Become(Streaming);
        Pump();
    }

    /// <summary>Reads and sends chunks while the receiver's window has room; after the last one, checks the file
    /// once more and sends Done with the SHA-256 of everything read.</summary>
    private void Pump()
    {
        while (_sent < _spec.Size && _sent - _acked < _window)
        {
            var count = (int)Math.Min(_chunk, Math.Min(_spec.Size - _sent, _window - (_sent - _acked)));
            var offset = _sent;
            var buffer = _spare.Count > 0 ? _spare.Pop() : GC.AllocateUninitializedArray<byte>(_chunk);
            if (!Try(() =>
                {
                    _source!.Read(offset, buffer.AsSpan(0, count));
                    return true;
                }, out _)) return;
            Send(new Chunk(_spec.Id, offset, buffer.AsMemory(0, count)));
            _sent += count;
            _unacked.Enqueue((_sent, buffer, Now));
        }
        if (_sent == _spec.Size && !_finished)
        {
            _finished = true;
            if (!Try(() => _source!.Finish(), out var sha)) return;
            _sha = sha;
            Send(new Done(_spec.Id, _spec.Size, sha));
        }
    }

    private void OnAck(Ack ack)
    {
        if (ack.Written < _acked || ack.Written > _sent)
        {
            FailBoth($"the receiver acknowledged byte {ack.Written}, but {_sent} were sent");
            return;
        }
        var now = Now;
        if (ack.Written > _acked) Moved();
        _acked = ack.Written;
        // The receiver says it has these bytes: their buffers are read into again, by this transfer only (see _spare).
        // The last chunk this ack completes gives a round trip.
        TimeSpan? roundTrip = null;
        while (_unacked.Count > 0 && _unacked.Peek().End <= _acked)
        {
            var (end, buffer, sentAt) = _unacked.Dequeue();
            _spare.Push(buffer);
            if (end == _acked) roundTrip = now - sentAt;
        }
        _control.Acked(_acked, now, roundTrip);
        if (_acked == _spec.Size) _share.Resize(_floor); // all delivered: nothing more will fly while Verified comes
        else if (_declared > _floor)
        {
            // Never handed back below what is still in flight: those bytes still wait in queues on the way.
            var target = _control.Target(_floor, _declared);
            _window = Math.Min(target, _share.Resize(Math.Max(target, (int)(_sent - _acked))));
            _peakWindow = Math.Max(_peakWindow, _window);
        }
        ReportProgressIfDue(_acked);
        Pump();
    }

    private void OnVerified(Verified verified)
    {
        if (_sha is null || !verified.Sha256.AsSpan().SequenceEqual(_sha))
        {
            FailBoth("the receiver confirmed a different SHA-256");
            return;
        }
        _acked = _spec.Size;
        if (_spec.Bundle is null) Remember(_sha);
        ReportProgress(_acked);
        // What the window did, for whoever tunes a link: how far it grew, and the path it measured.
        Context.GetLogger().Info(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"sent {_spec.File} to {_spec.To}: {Units.Bytes(_spec.Size)} in {(Now - StartedAt).TotalSeconds:F2} s; window grew to {_peakWindow} bytes (declared {_declared}), round trip {_control.MinRtt.TotalMilliseconds:F1} ms, {Units.Bytes(_control.Rate)}/s acknowledged at most"));
        End(new TransferCompleted(Id, _spec.File, _spec.Path, _spec.Size, Convert.ToHexStringLower(_sha),
            (Now - StartedAt).TotalSeconds, _spec.Bundle?.Entries.Count ?? 1));
    }

    // ---------------------------------------------------------------- ending

    protected override void FailBoth(string reason)
    {
        Send(new Fail(_spec.Id, reason));
        Failed(reason);
    }

    private void Failed(string reason) => End(new TransferFailed(Id, _spec.File, reason));

    private void Cancelled(string by) => End(new TransferCancelled(Id, _spec.File, by));

    /// <summary>Only the offer's timing was refused: the node queues the file again (same id, nothing published: for the
    /// user it is still waiting), and this actor ends without a trace.</summary>
    private void Throttled(bool slowDown) => EndSilently(new TransferMessages.Throttled(_spec.Id, slowDown));
}
