using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Lines;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Server.Stored;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Transfer.Storage;

namespace AkkaTcpTransfer.Server.Spool;

/// <summary>Between a client's session (<see cref="PeerActor"/>) and the spool.</summary>
internal static class SpoolRequests
{
    /// <summary>Peer -> spool: its client offers <paramref name="Offer"/> (From and SenderId stamped) to
    /// <paramref name="To"/>, several people or someone offline. Answered with <see cref="UploadAccepted"/> (the peer
    /// then receives it into the spool) or <see cref="UploadRefused"/>.</summary>
    /// <param name="Claimed">The SHA-256 the client claimed for the file (Claim), or null.</param>
    public sealed record Upload(Offer Offer, string FromIdentity, IReadOnlyList<string> To, byte[]? Claimed = null);

    /// <summary>Spool -> peer: the content is kept already; ask the client for a proof that it holds it (Prove), and
    /// pass the answer back as <see cref="Proved"/>.</summary>
    public sealed record ProveFirst(Offer Offer, long Token, long Offset, int Length, byte[] Nonce);

    /// <summary>Peer -> spool: the client's Proof for upload <paramref name="Token"/>.</summary>
    public sealed record Proved(long Token, byte[] Proof);

    /// <summary>Spool -> peer: kept from the content the server held, nothing uploaded: tell the client Verified and Held.</summary>
    public sealed record KeptAlready(uint Id, string FileId, int Recipients, byte[] Sha256);

    public sealed record UploadAccepted(Offer Offer, SpoolUpload Target);

    public sealed record UploadRefused(uint Id, string Reason);

    /// <summary>Peer -> spool, once its client is welcomed: files kept for it are offered to it, and the client hears
    /// where its own kept files stand.</summary>
    public sealed record Online(string Identity, string Name, IActorRef Connection);

    /// <summary>Spool -> a recipient's peer: send this kept file to your client, in the name of <paramref name="From"/>
    /// (whose identity is <paramref name="SenderId"/>), reporting to the spool.</summary>
    public sealed record Deliver(TransferMessages.StartSend Spec, string From, byte[] SenderId);

    /// <summary>Peer -> spool: its client asks for kept file <paramref name="FileId"/> (GetFile): offered to it if it
    /// is one of the file's recipients or a member of a room the file was shared with; else <see cref="GetRefused"/>.</summary>
    public sealed record Get(string FileId, string Identity, string Name);

    public sealed record GetRefused(string FileId, string Reason);
}

/// <summary>Keeps files for their recipients. A file sent to several people, or to a registered name whose owner is
/// offline, is uploaded once to the server (into this spool: state-dir/spool/blobs, each content once, named by its
/// SHA-256) and offered to each recipient when they are online, by a <see cref="SenderActor"/> under the recipient's
/// session that reports here, at that recipient's own pace. The record of every kept file and of how it ended for each
/// recipient is persistent (Akka.Persistence over the server's database); bytes are served only from content checked
/// against its hash since this process started, and nothing is served before it is whole and verified (an upload lands
/// in incoming/ and is recorded before its sender hears Verified). Limits: the spool's size, per sender, per recipient,
/// the number of files, and an expiry. One actor for the server (a single server: in a cluster the spool is off).</summary>
internal sealed class SpoolActor : ReceivePersistentActor, IWithTimers
{
    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private sealed record Retry(string Identity);

    private sealed record BlobChecked(string Sha256, string? Problem);

    private sealed class Recipient(string name, string identity)
    {
        public string Name { get; set; } = name;
        public string Identity { get; } = identity;
        public DeliveryState State { get; set; } = DeliveryState.Waiting;
        public string Reason { get; set; } = "";
        public long Bytes { get; set; }
        public int Failures { get; set; }
        public TimeSpan LastRow { get; set; } = TimeSpan.MinValue;
        /// <summary>The session it is not offered to again (it went unanswered or failed there): the next one gets it.</summary>
        public IActorRef? HeldBackFrom { get; set; }
        /// <summary>The uploader was told how it ended (it was online then, or has connected since).</summary>
        public bool Told { get; set; }
        public bool Final => State is DeliveryState.Delivered or DeliveryState.Rejected or DeliveryState.Failed or DeliveryState.Expired;
    }

    private sealed class Entry(FileKept kept)
    {
        public FileKept Kept { get; } = kept;
        public List<Recipient> Recipients { get; } = [.. kept.Recipients.Select(r => new Recipient(r.Name, r.Identity))];
        /// <summary>Those who asked for it (GetFile) without being among its recipients, or asked again: not stored
        /// (after a restart they ask again).</summary>
        public List<Recipient> OnDemand { get; } = [];
        public IEnumerable<Recipient> Everyone => Recipients.Concat(OnDemand);
        /// <summary>Its content is still needed: someone has yet to get it, or it is shared with a room (until it expires).</summary>
        public bool Open => Kept.Rooms.Count > 0 || Everyone.Any(r => !r.Final);
    }

    private sealed record PendingUpload(SpoolRequests.Upload Upload, IActorRef Peer, long Size, List<SpoolRecipient> Recipients, IReadOnlyList<SharedRoom> Rooms);

    /// <summary>An upload of content kept already, waiting for the client's proof of possession.</summary>
    private sealed record Proving(PendingUpload Upload, string Sha256, long Offset, int Length, byte[] Nonce, TimeSpan AskedAt);

    /// <summary>Bytes of the kept content a client proves it holds (hashed after a random nonce).</summary>
    private const int ProofLength = 64 * 1024;

    /// <summary>An upload's names being looked up: people (online, then registered) and rooms (their members).</summary>
    private sealed class Resolving(SpoolRequests.Upload upload, IActorRef peer)
    {
        public SpoolRequests.Upload Upload { get; } = upload;
        public IActorRef Peer { get; } = peer;
        public Dictionary<string, SessionMessages.FoundName> Found { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, RoomMessages.RosterIs> Rooms { get; } = new(StringComparer.Ordinal);
        public int Waiting { get; set; }
    }

    /// <summary>A GetFile from someone who is not among the file's recipients: waiting for its rooms to say whether
    /// they are a member.</summary>
    private sealed record Asking(SpoolRequests.Get Get, IActorRef Peer, Entry Entry)
    {
        public int Waiting { get; set; }
    }

    /// <summary>Failures of one delivery (a lost connection, a full disk) before it counts as failed for good.</summary>
    private const int MaxFailures = 3;

    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RowEvery = TimeSpan.FromSeconds(1);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly SpoolSettings _settings;
    private readonly int _snapshotEvery;
    private readonly IActorRef _sessions;
    private readonly IActorRef _names;
    private readonly IActorRef _rooms;
    private readonly Dictionary<long, Asking> _asking = [];
    /// <summary>Lines announcing a file in a room, by their line id, until the room stored them.</summary>
    private readonly Dictionary<uint, (string Room, RoomMessages.Say Say)> _announcing = [];
    private uint _nextLine;
    private readonly Func<long> _now;
    private readonly string _blobs;
    private readonly string _incoming;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (IActorRef Peer, IActorRef Connection, string Name)> _online = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, (Entry Entry, Recipient Recipient, IActorRef Peer)> _deliveries = [];
    private readonly Dictionary<long, Resolving> _resolving = [];
    private readonly Dictionary<long, PendingUpload> _uploads = [];
    /// <summary>Records being stored, by file id: what to tell whoever waits should the database refuse one.</summary>
    private readonly Dictionary<string, Action<string>> _keeping = new(StringComparer.Ordinal);
    /// <summary>The content of each record being stored (by file id): not released meanwhile, though no open record
    /// holds it yet.</summary>
    private readonly Dictionary<string, string> _keepingContent = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Proving> _proving = [];
    /// <summary>Identities whose claims are not taken until then (a wrong proof).</summary>
    private readonly Dictionary<string, TimeSpan> _claimsRefused = new(StringComparer.Ordinal);
    /// <summary>Contents checked against their hash since start: only these are served.</summary>
    private readonly HashSet<string> _checked = new(StringComparer.Ordinal);
    private long _nextToken;
    private int _sinceSnapshot;
    /// <summary>Events asked to be stored whose handlers have not run yet: a snapshot waits until there are none, so
    /// that it never claims a sequence number whose event it does not hold.</summary>
    private int _storing;

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => "spool";

    /// <param name="sessions">The session registry (who is online here).</param>
    /// <param name="names">The name registry (who owns a name while offline).</param>
    /// <param name="now">For tests: the clock, in Unix milliseconds.</param>
    /// <param name="rooms">Where rooms are (<see cref="EntityEnvelope"/>s): their members, and the line announcing a file shared there.</param>
    public static Props Props(NodeSettings settings, IActorRef sessions, IActorRef names, IActorRef rooms, Func<long>? now = null) =>
        Akka.Actor.Props.Create(() => new SpoolActor(settings, sessions, names, rooms, now)).WithDispatcher(settings.Transfer.FileIoDispatcher);

    public SpoolActor(NodeSettings settings, IActorRef sessions, IActorRef names, IActorRef rooms, Func<long>? now)
    {
        _rooms = rooms;
        _settings = settings.Spool;
        _snapshotEvery = settings.History.SnapshotEvery;
        _sessions = sessions;
        _names = names;
        _now = now ?? (() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        _blobs = Path.Combine(_settings.Folder, "blobs");
        _incoming = Path.Combine(_settings.Folder, "incoming");

        Recover<SnapshotOffer>(o =>
        {
            foreach (var f in ((SpoolSnapshot)o.Snapshot).Files)
            {
                var entry = new Entry(f.Kept);
                for (var i = 0; i < entry.Recipients.Count && i < f.Recipients.Count; i++)
                    (entry.Recipients[i].State, entry.Recipients[i].Reason) = ((DeliveryState)f.Recipients[i].State, f.Recipients[i].Reason);
                _entries[f.Kept.FileId] = entry;
            }
        });
        Recover<FileKept>(Apply);
        Recover<FileSettled>(Apply);
        Recover<FileDropped>(Apply);

        Command<SpoolRequests.Upload>(OnUpload);
        Command<SessionMessages.FoundMany>(OnFound);
        Command<NameMessages.OwnersFound>(OnOwners);
        Command<RoomMessages.RosterIs>(OnRoster);
        Command<SpoolRequests.Get>(OnGet);
        Command<LineAnswers.SayDone>(d => _announcing.Remove(d.Id));
        Command<LineAnswers.SayFailed>(f =>
        {
            if (_announcing.Remove(f.Id, out var line)) _log.Warning("spool: could not announce a file in {0}: {1}", line.Room, f.Reason);
        });
        Command<LineAnswers.SayDeferred>(d =>
        {
            // The uploader's allowance for lines to many: the announcement waits its turn.
            if (_announcing.TryGetValue(d.Id, out var line))
                Context.System.Scheduler.ScheduleTellOnce(d.Wait, _rooms, new EntityEnvelope(RoomNames.EntityId(line.Room), line.Say), Self);
        });
        Command<SpoolMessages.Uploaded>(OnUploaded);
        Command<SpoolRequests.Proved>(OnProved);
        Command<SpoolMessages.UploadEnded>(e =>
        {
            if (_uploads.Remove(e.Token, out var up)) _log.Debug("upload {0} of {1} ended without being kept", e.Token, up.Upload.Offer.File);
        });
        Command<SpoolRequests.Online>(o => OnOnline(o, Sender));
        Command<Terminated>(t => SessionGone(t.ActorRef));
        // The senders of kept files report here as they would to the node's table.
        Command<TransferMessages.Attached>(_ => { });
        Command<TransferMessages.AwaitingDecision>(_ => { });
        Command<TransferStarted>(s => WithDelivery(s.Id, (entry, r) =>
        {
            r.State = DeliveryState.Receiving;
            r.Bytes = s.Offset;
            Row(entry, r);
        }));
        Command<TransferProgress>(p => WithDelivery(p.Id, (entry, r) =>
        {
            r.Bytes = p.Bytes;
            if (_clock.Elapsed - r.LastRow >= RowEvery) Row(entry, r);
        }));
        Command<TransferMessages.Ended>(OnEnded);
        Command<TransferMessages.Throttled>(t => Unsent(t.Id, "the recipient is busy; offered again in a moment", countsAsFailure: false));
        Command<TransferMessages.SendRefused>(r => Unsent(r.Id, r.Reason, countsAsFailure: false));
        Command<Retry>(r => Pump(r.Identity));
        Command<BlobChecked>(OnBlobChecked);
        Command<Sweep>(_ =>
        {
            ExpireDue();
            foreach (var (identity, until) in _claimsRefused.Where(c => c.Value <= _clock.Elapsed).ToList()) _claimsRefused.Remove(identity);
            foreach (var (token, proving) in _proving.Where(p => _clock.Elapsed - p.Value.AskedAt > _settings.ProofTimeout).ToList())
            {
                _proving.Remove(token);
                proving.Upload.Peer.Tell(new SpoolRequests.UploadRefused(proving.Upload.Upload.Offer.Id, $"no proof of possession within {Units.Seconds(_settings.ProofTimeout)}"));
            }
        });
        Command<SaveSnapshotSuccess>(s =>
        {
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning("the spool could not save a snapshot: {0}", f.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning("the spool could not delete old events: {0}", f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    protected override void OnReplaySuccess()
    {
        try
        {
            Directory.CreateDirectory(_blobs);
            // Whatever is in incoming/ was landed by an upload the spool never recorded (the server stopped in between):
            // its sender never heard Verified, and sends it again.
            if (Directory.Exists(_incoming)) Directory.Delete(_incoming, recursive: true);
            Directory.CreateDirectory(_incoming);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error("the spool folder {0} is not usable: {1}", _settings.Folder, e.Message);
        }
        var needed = NeededContents();
        foreach (var file in SafeFiles(_blobs))
            if (!needed.Contains(Path.GetFileName(file))) TryDelete(file);
        // Every content still to be served is checked against its hash before it is served again.
        foreach (var sha in needed) CheckBlob(sha);
        _log.Info("spool: {0} kept files, {1} contents to check", _entries.Count, needed.Count);
        Timers.StartPeriodicTimer(nameof(Sweep), Sweep.Instance, TimeSpan.FromMilliseconds(100), _settings.SweepInterval);
        _sessions.Tell(SessionMessages.ListOnline.Instance);
    }

    // ---------------------------------------------------------------- uploads

    private void OnUpload(SpoolRequests.Upload upload)
    {
        var offer = upload.Offer;
        if (Refusal(upload) is { } refusal)
        {
            Sender.Tell(new SpoolRequests.UploadRefused(offer.Id, refusal));
            return;
        }
        var token = ++_nextToken;
        Context.Watch(Sender);
        var resolving = _resolving[token] = new Resolving(upload, Sender);
        var people = upload.To.Where(n => !RoomNames.IsRoom(n)).ToList();
        if (people.Count > 0)
        {
            resolving.Waiting++;
            _sessions.Tell(new SessionMessages.FindMany(token, people));
        }
        foreach (var room in upload.To.Where(RoomNames.IsRoom).Distinct(StringComparer.Ordinal))
        {
            resolving.Waiting++;
            _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(room), new RoomMessages.Roster(token, room, upload.FromIdentity)));
        }
    }

    /// <summary>Why an upload cannot be kept before its recipients are even looked up, or null.</summary>
    private string? Refusal(SpoolRequests.Upload upload)
    {
        var offer = upload.Offer;
        if (upload.To.Count == 0) return "no recipient named";
        if (FolderStream.IsFolderOffer(offer.File)) return "a folder goes to one person at a time; send its files, or send it to each";
        if (upload.To.Count > _settings.MaxRecipients) return $"a file goes to at most {_settings.MaxRecipients} people at once (spool.max-recipients)";
        if (upload.To.FirstOrDefault(n => RoomNames.IsRoom(n) && RoomNames.Validate(n) is not null) is { } badRoom)
            return $"'{badRoom}' is not a room name: {RoomNames.Validate(badRoom)}";
        if (_entries.Count + _uploads.Count >= _settings.MaxFiles) return $"the server keeps {_settings.MaxFiles} files already (spool.max-files); try again later";
        var inUse = BytesKept() + _uploads.Values.Sum(u => u.Size);
        if (inUse + offer.Size > _settings.MaxBytes)
            return $"the server's spool is full: {Units.Bytes(inUse)} of {Units.Bytes(_settings.MaxBytes)} kept, {Units.Bytes(offer.Size)} more do not fit (spool.max-bytes)";
        var senders = BytesKept(e => e.Kept.FromIdentity == upload.FromIdentity) + _uploads.Values.Where(u => u.Upload.FromIdentity == upload.FromIdentity).Sum(u => u.Size);
        if (senders + offer.Size > _settings.MaxBytesPerSender)
            return $"you have {Units.Bytes(senders)} kept for others already; {Units.Bytes(offer.Size)} more exceed your {Units.Bytes(_settings.MaxBytesPerSender)} (spool.max-bytes-per-sender)";
        return null;
    }

    private void OnFound(SessionMessages.FoundMany found)
    {
        if (found.Token == 0)
        {
            // Everyone online when the spool (re)started: what waits for them is offered, and uploaders hear of theirs.
            foreach (var name in found.Names.Where(n => n.Peer is not null))
                OnOnline(new SpoolRequests.Online(name.Identity, name.Name, name.Connection!), name.Peer!);
            return;
        }
        if (!_resolving.TryGetValue(found.Token, out var resolving)) return;
        var missing = new List<string>();
        foreach (var name in found.Names)
        {
            if (name.Peer is not null)
            {
                resolving.Found[name.Asked] = name;
                Online(name.Identity, name.Name, name.Peer, name.Connection!);
            }
            else missing.Add(name.Asked);
        }
        if (missing.Count > 0) _names.Tell(new NameMessages.Owners(found.Token, missing));
        else Answered(found.Token, resolving);
    }

    private void OnRoster(RoomMessages.RosterIs roster)
    {
        if (_resolving.TryGetValue(roster.Token, out var resolving))
        {
            if (!roster.Member)
            {
                _resolving.Remove(roster.Token);
                resolving.Peer.Tell(new SpoolRequests.UploadRefused(resolving.Upload.Offer.Id, roster.Members.Count == 0
                    ? $"there is no room {roster.Room}"
                    : $"you are not in {roster.Room}: only its members share files in it"));
                return;
            }
            resolving.Rooms[roster.Room] = roster;
            Answered(roster.Token, resolving);
            return;
        }
        if (!_asking.TryGetValue(roster.Token, out var asking)) return;
        // A member of the room it was shared with: the same room, not one opened again under its name since.
        if (roster.Member && asking.Entry.Kept.Rooms.Any(r => RoomNames.Key(r.Name) == RoomNames.Key(roster.Room) && r.OpenedMs == roster.OpenedMs))
        {
            _asking.Remove(roster.Token);
            OnDemand(asking.Entry, asking.Get, asking.Peer);
        }
        else if (--asking.Waiting == 0)
        {
            _asking.Remove(roster.Token);
            asking.Peer.Tell(new SpoolRequests.GetRefused(asking.Get.FileId,
                $"file {asking.Get.FileId} is for the members of {string.Join(", ", asking.Entry.Kept.Rooms.Select(r => r.Name))}; join to get it"));
        }
    }

    private void Answered(long token, Resolving resolving)
    {
        if (--resolving.Waiting == 0) Resolved(token);
    }

    private void OnOwners(NameMessages.OwnersFound owners)
    {
        if (!_resolving.TryGetValue(owners.Token, out var resolving)) return;
        foreach (var (asked, name, identity) in owners.Names)
        {
            if (identity.Length == 0)
            {
                _resolving.Remove(owners.Token);
                resolving.Peer.Tell(new SpoolRequests.UploadRefused(resolving.Upload.Offer.Id, $"no one named '{asked}' is online or registered"));
                return;
            }
            resolving.Found[asked] = new SessionMessages.FoundName(asked, name, identity, null, null);
        }
        Answered(owners.Token, resolving);
    }

    private void Resolved(long token)
    {
        _resolving.Remove(token, out var resolving);
        var (upload, peer) = (resolving!.Upload, resolving.Peer);
        if (resolving.Rooms.Values.FirstOrDefault(r => r.Members.Count > _settings.MaxRoomMembers) is { } crowded)
        {
            peer.Tell(new SpoolRequests.UploadRefused(upload.Offer.Id,
                $"{crowded.Room} has {crowded.Members.Count} members; the server keeps files for rooms of at most {_settings.MaxRoomMembers}"));
            return;
        }
        var recipients = new List<SpoolRecipient>();
        // The people named, then each room's members but the uploader (a room with nobody else keeps it for later).
        var everyone = upload.To.Where(n => !RoomNames.IsRoom(n)).Select(n => resolving.Found[n])
            .Concat(resolving.Rooms.Values.SelectMany(r => r.Members).Where(m => m.Identity != upload.FromIdentity)
                .Select(m => new SessionMessages.FoundName(m.Name, m.Name, m.Identity, null, null)));
        foreach (var found in everyone)
        {
            if (found.Identity == upload.FromIdentity)
            {
                peer.Tell(new SpoolRequests.UploadRefused(upload.Offer.Id, "you cannot send a file to yourself"));
                return;
            }
            if (recipients.Any(r => r.Identity == found.Identity)) continue;
            var waiting = BytesWaitingFor(found.Identity) + _uploads.Values.Where(u => u.Recipients.Any(r => r.Identity == found.Identity)).Sum(u => u.Size);
            if (waiting + upload.Offer.Size > _settings.MaxBytesPerRecipient)
            {
                peer.Tell(new SpoolRequests.UploadRefused(upload.Offer.Id,
                    $"{found.Name} has {Units.Bytes(waiting)} waiting already; {Units.Bytes(upload.Offer.Size)} more exceed {Units.Bytes(_settings.MaxBytesPerRecipient)} (spool.max-bytes-per-recipient)"));
                return;
            }
            recipients.Add(new SpoolRecipient(found.Name, found.Identity));
        }
        var pending = new PendingUpload(upload, peer, upload.Offer.Size, recipients, [.. resolving.Rooms.Values.Select(r => new SharedRoom(r.Room, r.OpenedMs))]);
        // Content kept already (and checked since start): the client proves it holds it instead of sending it again.
        if (upload.Claimed is { Length: ProtocolLimits.Sha256Length } claimed && Convert.ToHexStringLower(claimed) is var sha && _checked.Contains(sha)
            && !(_claimsRefused.TryGetValue(upload.FromIdentity, out var until) && until > _clock.Elapsed)
            && new FileInfo(Path.Combine(_blobs, sha)) is { Exists: true } blob && blob.Length == upload.Offer.Size)
        {
            var length = (int)Math.Min(ProofLength, blob.Length);
            var offset = blob.Length == length ? 0 : Random.Shared.NextInt64(0, blob.Length - length + 1);
            var nonce = RandomNumberGenerator.GetBytes(16);
            _proving[token] = new Proving(pending, sha, offset, length, nonce, _clock.Elapsed);
            peer.Tell(new SpoolRequests.ProveFirst(upload.Offer, token, offset, length, nonce));
            return;
        }
        _uploads[token] = pending;
        peer.Tell(new SpoolRequests.UploadAccepted(upload.Offer, new SpoolUpload(Self, token, _settings.Folder)));
    }

    /// <summary>A verified upload landed in incoming/: filed under its hash (a content already kept is not kept twice),
    /// recorded, and only then confirmed to its receiver, which tells the sender.</summary>
    private void OnUploaded(SpoolMessages.Uploaded uploaded)
    {
        var receiver = Sender;
        if (!_uploads.Remove(uploaded.Token, out var up))
        {
            TryDelete(uploaded.Path);
            receiver.Tell(new SpoolMessages.KeepFailed("the server no longer expected this upload; send it again"));
            return;
        }
        var sha = Convert.ToHexStringLower(uploaded.Sha256);
        var blob = Path.Combine(_blobs, sha);
        try
        {
            if (_checked.Contains(sha))
            {
                if (!NoReplaceMove.TryMove(uploaded.Path, blob)) TryDelete(uploaded.Path); // the same content is kept already
            }
            else File.Move(uploaded.Path, blob, overwrite: true); // verified just now: better than a copy not yet checked
            _checked.Add(sha);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(uploaded.Path);
            receiver.Tell(new SpoolMessages.KeepFailed($"the server could not keep the file: {e.Message}"));
            return;
        }
        Keep(up, sha, e => receiver.Tell(new SpoolMessages.Kept(e.FileId, blob, e.Recipients.Count)),
            why => receiver.Tell(new SpoolMessages.KeepFailed(why)));
    }

    /// <summary>The client answered the proof of possession: right, and the file is kept from the content held already
    /// (nothing uploaded); wrong, and the upload is refused.</summary>
    private void OnProved(SpoolRequests.Proved proved)
    {
        if (!_proving.Remove(proved.Token, out var proving)) return;
        var peer = proving.Upload.Peer;
        var id = proving.Upload.Upload.Offer.Id;
        byte[] expected;
        try
        {
            using var handle = File.OpenHandle(Path.Combine(_blobs, proving.Sha256));
            var slice = new byte[proving.Nonce.Length + proving.Length];
            proving.Nonce.CopyTo(slice, 0);
            var read = 0;
            while (read < proving.Length)
            {
                var n = RandomAccess.Read(handle, slice.AsSpan(proving.Nonce.Length + read), proving.Offset + read);
                if (n == 0) break;
                read += n;
            }
            expected = SHA256.HashData(slice.AsSpan(0, proving.Nonce.Length + read));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            peer.Tell(new SpoolRequests.UploadRefused(id, $"the server could not check the proof ({e.Message}); send the file again"));
            return;
        }
        if (!CryptographicOperations.FixedTimeEquals(expected, proved.Proof))
        {
            _claimsRefused[proving.Upload.Upload.FromIdentity] = _clock.Elapsed + _settings.ClaimsRefusedFor;
            peer.Tell(new SpoolRequests.UploadRefused(id, "the proof of possession does not match the content claimed"));
            return;
        }
        Keep(proving.Upload, proving.Sha256, e => peer.Tell(new SpoolRequests.KeptAlready(id, e.FileId, e.Recipients.Count, Convert.FromHexString(proving.Sha256))),
            why => peer.Tell(new SpoolRequests.UploadRefused(id, why)));
    }

    /// <summary>Records a kept file (its content is in blobs/ under <paramref name="sha"/>); once stored,
    /// <paramref name="stored"/> confirms it to whoever waits, and its recipients and rooms hear of it; should the database
    /// refuse it, <paramref name="refused"/> says why.</summary>
    private void Keep(PendingUpload up, string sha, Action<FileKept> stored, Action<string> refused)
    {
        var offer = up.Upload.Offer;
        var now = _now();
        var kept = new FileKept(NewFileId(), sha, offer.Size, offer.Fingerprint, offer.File, offer.From, up.Upload.FromIdentity, now,
            now + (long)_settings.ExpireAfter.TotalMilliseconds, up.Recipients, up.Rooms);
        _keeping[kept.FileId] = refused;
        _keepingContent[kept.FileId] = sha;
        _storing++;
        Persist(kept, e =>
        {
            _storing--;
            _keeping.Remove(e.FileId);
            _keepingContent.Remove(e.FileId);
            Apply(e);
            Saved();
            var entry = _entries[e.FileId];
            stored(e);
            _log.Info("kept {0} ({1}) from {2} for {3}", e.File, e.FileId, e.From, string.Join(", ", e.Recipients.Select(r => r.Name)));
            foreach (var r in entry.Recipients) Row(entry, r);
            foreach (var r in entry.Recipients) Pump(r.Identity);
            foreach (var room in e.Rooms) Announce(e, room.Name);
        });
    }

    /// <summary>The room's history gets a line from the uploader naming the file and how to fetch it, so that members
    /// who join later, or declined, can ask for it until it expires.</summary>
    private void Announce(FileKept kept, string room)
    {
        var id = ++_nextLine;
        var say = new RoomMessages.Say(id, room, kept.FromIdentity, kept.From,
            $"shared a file: {kept.File} ({Units.Bytes(kept.Size)}), until {DateTimeOffset.FromUnixTimeMilliseconds(kept.ExpiresMs).UtcDateTime.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)} UTC: /get {kept.FileId}",
            $"spool:{kept.FileId}");
        _announcing[id] = (room, say);
        _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(room), say));
    }

    // ---------------------------------------------------------------- asked for

    private void OnGet(SpoolRequests.Get get)
    {
        var peer = Sender;
        if (!_entries.TryGetValue(get.FileId.ToLowerInvariant(), out var entry) || !entry.Open)
        {
            peer.Tell(new SpoolRequests.GetRefused(get.FileId, $"no file {get.FileId} is kept (it expired, reached everyone, or never was)"));
            return;
        }
        if (entry.Kept.FromIdentity == get.Identity || entry.Recipients.Any(r => r.Identity == get.Identity))
        {
            OnDemand(entry, get, peer);
            return;
        }
        if (entry.Kept.Rooms.Count == 0)
        {
            peer.Tell(new SpoolRequests.GetRefused(get.FileId, $"file {get.FileId} is not for you"));
            return;
        }
        var token = ++_nextToken;
        _asking[token] = new Asking(get, peer, entry) { Waiting = entry.Kept.Rooms.Count };
        foreach (var room in entry.Kept.Rooms)
            _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(room.Name), new RoomMessages.Roster(token, room.Name, get.Identity)));
    }

    /// <summary>Offers the file to whoever asked for it (and may have it), now: again, if they had it or declined it.</summary>
    private void OnDemand(Entry entry, SpoolRequests.Get get, IActorRef peer)
    {
        // One still on its way to them is the one they get; otherwise their earlier request again, or a new one (at
        // most one per person asking, however often they ask).
        var r = entry.Everyone.FirstOrDefault(x => x.Identity == get.Identity && !x.Final)
            ?? entry.OnDemand.FirstOrDefault(x => x.Identity == get.Identity);
        if (r is null)
        {
            r = new Recipient(get.Name, get.Identity);
            entry.OnDemand.Add(r);
        }
        if (!_deliveries.Values.Any(d => d.Recipient == r))
        {
            (r.State, r.Reason, r.Bytes, r.Failures, r.HeldBackFrom) = (DeliveryState.Waiting, "", 0, 0, null);
        }
        if (!_online.ContainsKey(get.Identity)) Online(get.Identity, get.Name, peer, ActorRefs.Nobody);
        Row(entry, r);
        Pump(get.Identity);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Warning("the spool could not store {0}: {1}", @event.GetType().Name, cause.Message);
        _storing--;
        if (@event is FileKept kept && _keeping.Remove(kept.FileId, out var refused))
        {
            if (_keepingContent.Remove(kept.FileId, out var sha)) ReleaseContent(sha);
            refused($"not kept: the server's database refused it ({cause.Message})");
        }
    }

    // ---------------------------------------------------------------- deliveries

    private void OnOnline(SpoolRequests.Online online, IActorRef peer)
    {
        Online(online.Identity, online.Name, peer, online.Connection);
        // The client's own kept files: where each stands, also what ended while it was away.
        foreach (var entry in _entries.Values.Where(e => e.Kept.FromIdentity == online.Identity).OrderBy(e => e.Kept.AtMs))
            foreach (var r in entry.Everyone.Where(r => !r.Final || !r.Told)) Row(entry, r);
        Pump(online.Identity);
    }

    /// <summary>A client's session ended: whatever of it the spool was still waiting on goes (uploads not handed to a
    /// receiver, proofs, lookups: their reservations too), and deliveries to it are waiting again.</summary>
    private void SessionGone(IActorRef peer)
    {
        foreach (var (identity, online) in _online.ToList())
            if (online.Peer.Equals(peer)) _online.Remove(identity);
        foreach (var token in _uploads.Where(u => u.Value.Peer.Equals(peer)).Select(u => u.Key).ToList()) _uploads.Remove(token);
        foreach (var token in _proving.Where(p => p.Value.Upload.Peer.Equals(peer)).Select(p => p.Key).ToList()) _proving.Remove(token);
        foreach (var token in _resolving.Where(r => r.Value.Peer.Equals(peer)).Select(r => r.Key).ToList()) _resolving.Remove(token);
        foreach (var (id, delivery) in _deliveries.Where(d => d.Value.Peer.Equals(peer)).ToList())
        {
            _deliveries.Remove(id);
            if (delivery.Recipient.Final) continue;
            delivery.Recipient.State = DeliveryState.Waiting;
            delivery.Recipient.Reason = $"{delivery.Recipient.Name} disconnected; offered again when they are back";
            Row(delivery.Entry, delivery.Recipient);
        }
    }

    private void Online(string identity, string name, IActorRef peer, IActorRef connection)
    {
        if (_online.TryGetValue(identity, out var known) && known.Peer.Equals(peer)) return;
        _online[identity] = (peer, connection, name);
        Context.Watch(peer);
    }

    /// <summary>Offers files waiting for <paramref name="identity"/>, oldest first, while fewer than
    /// spool.deliveries-per-recipient are on their way to it.</summary>
    private void Pump(string identity)
    {
        if (!_online.TryGetValue(identity, out var online)) return;
        var busy = _deliveries.Values.Count(d => d.Recipient.Identity == identity);
        foreach (var entry in _entries.Values.OrderBy(e => e.Kept.AtMs))
        {
            if (busy >= _settings.DeliveriesPerRecipient) return;
            if (!_checked.Contains(entry.Kept.Sha256)) continue;
            foreach (var r in entry.Everyone)
            {
                if (busy >= _settings.DeliveriesPerRecipient) return;
                if (r.Identity != identity || r.State != DeliveryState.Waiting || online.Peer.Equals(r.HeldBackFrom)
                    || _deliveries.Values.Any(d => d.Recipient == r)) continue;
                var id = NewTransferId();
                _deliveries[id] = (entry, r, online.Peer);
                r.Name = online.Name;
                r.State = DeliveryState.Offered;
                r.Reason = "";
                busy++;
                var kept = entry.Kept;
                var blob = Path.Combine(_blobs, kept.Sha256);
                online.Peer.Tell(new SpoolRequests.Deliver(
                    new TransferMessages.StartSend(id, blob, kept.File, online.Name, kept.Size, kept.Fingerprint, Stamp: File.GetLastWriteTimeUtc(blob).Ticks,
                        Sha256: Convert.FromHexString(kept.Sha256)),
                    kept.From, Convert.FromHexString(kept.FromIdentity)));
                Row(entry, r);
            }
        }
    }

    private void OnEnded(TransferMessages.Ended ended)
    {
        if (!_deliveries.Remove(ended.Id, out var delivery)) return;
        var (entry, r, peer) = delivery;
        if (!_entries.ContainsKey(entry.Kept.FileId)) return; // dropped meanwhile (expired)
        switch (ended.Ending)
        {
            case TransferCompleted:
                r.Bytes = entry.Kept.Size;
                Settle(entry, r, DeliveryState.Delivered, "");
                break;
            case TransferCancelled c:
                Settle(entry, r, DeliveryState.Rejected, $"cancelled by {c.By}");
                break;
            case TransferFailed f when Unanswered(f.Reason):
                // Nobody decided (away from the keyboard): not a refusal. Offered again on their next connection.
                r.State = DeliveryState.Waiting;
                r.Reason = $"not answered; offered again when {r.Name} next connects";
                r.HeldBackFrom = peer;
                Row(entry, r);
                break;
            case TransferFailed f when f.Reason.StartsWith("refused by ", StringComparison.Ordinal):
                Settle(entry, r, DeliveryState.Rejected, f.Reason);
                break;
            default:
                var reason = ended.Ending is TransferFailed failed ? failed.Reason : "the delivery ended";
                if (++r.Failures >= MaxFailures) Settle(entry, r, DeliveryState.Failed, reason);
                else
                {
                    // Offered again on the recipient's next connection, not to this one (a full disk, say, would fail again).
                    r.State = DeliveryState.Waiting;
                    r.Reason = $"{reason}; offered again when {r.Name} next connects";
                    r.HeldBackFrom = peer;
                    Row(entry, r);
                }
                break;
        }
        Pump(r.Identity);
    }

    /// <summary>An offer nobody answered, as our receivers and senders say it (the answer timeouts): the recipient was
    /// away, not refusing.</summary>
    private static bool Unanswered(string reason) =>
        reason.Contains("nobody accepted the offer within", StringComparison.Ordinal) || reason.Contains("did not answer the offer within", StringComparison.Ordinal);

    /// <summary>A delivery that did not start (the recipient was busy, or its session had just gone): waiting again,
    /// offered again in a moment.</summary>
    private void Unsent(uint id, string reason, bool countsAsFailure)
    {
        if (!_deliveries.Remove(id, out var delivery)) return;
        var (entry, r, _) = delivery;
        if (countsAsFailure) r.Failures++;
        r.State = DeliveryState.Waiting;
        r.Reason = reason;
        Row(entry, r);
        Timers.StartSingleTimer(("retry", r.Identity), new Retry(r.Identity), RetryAfter);
    }

    private void Settle(Entry entry, Recipient r, DeliveryState state, string reason)
    {
        r.State = state;
        r.Reason = reason;
        Row(entry, r);
        if (entry.OnDemand.Contains(r))
        {
            // Asked for, not among its recipients: nothing to store.
            if (!entry.Open) ReleaseContent(entry.Kept.Sha256);
            return;
        }
        _storing++;
        PersistAsync(new FileSettled(entry.Kept.FileId, r.Identity, (byte)state, reason, _now()), e =>
        {
            _storing--;
            Saved();
            if (!entry.Open) ReleaseContent(entry.Kept.Sha256);
        });
    }

    /// <summary>Tells the uploader, if online, where its file stands for <paramref name="r"/>.</summary>
    private void Row(Entry entry, Recipient r)
    {
        r.LastRow = _clock.Elapsed;
        if (!_online.TryGetValue(entry.Kept.FromIdentity, out var uploader)) return;
        if (r.Final) r.Told = true;
        uploader.Connection.Tell(new ConnectionMessages.Send(new Delivery(entry.Kept.FileId, entry.Kept.File, r.Name, r.State, r.Bytes,
            entry.Kept.Size, r.Reason)));
    }

    private void WithDelivery(string id, Action<Entry, Recipient> change)
    {
        if (TransferIds.TryParse(id, out var key) && _deliveries.TryGetValue(key, out var d)) change(d.Entry, d.Recipient);
    }

    // ---------------------------------------------------------------- expiry and contents

    private void ExpireDue()
    {
        var now = _now();
        foreach (var entry in _entries.Values.Where(e => e.Kept.ExpiresMs <= now).ToList())
        {
            foreach (var r in entry.Everyone.Where(r => !r.Final))
            {
                r.State = DeliveryState.Expired;
                r.Reason = $"not delivered within {Units.Seconds(_settings.ExpireAfter)}";
                Row(entry, r);
            }
            Drop(entry, "expired");
        }
    }

    private void Drop(Entry entry, string why)
    {
        _entries.Remove(entry.Kept.FileId);
        _storing++;
        PersistAsync(new FileDropped(entry.Kept.FileId, why), _ =>
        {
            _storing--;
            Saved();
            ReleaseContent(entry.Kept.Sha256);
        });
    }

    private void CheckBlob(string sha)
    {
        var path = Path.Combine(_blobs, sha);
        Task.Run(() =>
        {
            try
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
                var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
                return new BlobChecked(sha, actual == sha ? null : $"its content no longer matches its SHA-256 ({actual})");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return new BlobChecked(sha, e is FileNotFoundException ? "its content is missing" : e.Message);
            }
        }).PipeTo(Self);
    }

    private void OnBlobChecked(BlobChecked check)
    {
        // An upload of the same content, verified meanwhile, replaced the copy this check read.
        if (_checked.Contains(check.Sha256)) return;
        if (check.Problem is null)
        {
            _checked.Add(check.Sha256);
            foreach (var identity in _entries.Values.Where(e => e.Kept.Sha256 == check.Sha256).SelectMany(e => e.Recipients).Select(r => r.Identity).Distinct().ToList())
                Pump(identity);
            return;
        }
        _log.Error("spool: {0} cannot be served: {1}", check.Sha256, check.Problem);
        foreach (var entry in _entries.Values.Where(e => e.Kept.Sha256 == check.Sha256).ToList())
            foreach (var r in entry.Everyone.Where(r => !r.Final).ToList())
                Settle(entry, r, DeliveryState.Failed, $"the server lost the file ({check.Problem})");
        TryDelete(Path.Combine(_blobs, check.Sha256));
    }

    /// <summary>A content no open record needs any more is removed.</summary>
    private void ReleaseContent(string sha)
    {
        if (_entries.Values.Any(e => e.Kept.Sha256 == sha && e.Open) || _keepingContent.ContainsValue(sha)
            || _proving.Values.Any(p => p.Sha256 == sha)) return;
        _checked.Remove(sha);
        TryDelete(Path.Combine(_blobs, sha));
    }

    private HashSet<string> NeededContents() => [.. _entries.Values.Where(e => e.Open).Select(e => e.Kept.Sha256)];

    /// <summary>Bytes of distinct contents kept for open records (matching <paramref name="which"/>).</summary>
    private long BytesKept(Func<Entry, bool>? which = null) =>
        _entries.Values.Where(e => e.Open && (which is null || which(e))).DistinctBy(e => e.Kept.Sha256).Sum(e => e.Kept.Size);

    private long BytesWaitingFor(string identity) =>
        _entries.Values.Where(e => e.Everyone.Any(r => r.Identity == identity && !r.Final)).Sum(e => e.Kept.Size);

    // ---------------------------------------------------------------- state

    private void Apply(FileKept e) => _entries[e.FileId] = new Entry(e);

    private void Apply(FileSettled e)
    {
        if (!_entries.TryGetValue(e.FileId, out var entry)) return;
        foreach (var r in entry.Recipients.Where(r => r.Identity == e.Identity))
            (r.State, r.Reason) = ((DeliveryState)e.State, e.Reason);
    }

    private void Apply(FileDropped e) => _entries.Remove(e.FileId);

    /// <summary>An event was stored: every spool.snapshot-every of them, the whole state goes into one snapshot and the
    /// events before it are deleted, so recovery reads a bounded amount.</summary>
    private void Saved()
    {
        if (++_sinceSnapshot < _snapshotEvery || _storing > 0) return;
        _sinceSnapshot = 0;
        SaveSnapshot(new SpoolSnapshot([.. _entries.Values.Select(e => new KeptFileState(e.Kept, [.. e.Recipients.Select(r => ((byte)(r.Final ? r.State : DeliveryState.Waiting), r.Reason))]))]));
    }

    private string NewFileId()
    {
        string id;
        do id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
        while (_entries.ContainsKey(id));
        return id;
    }

    private uint NewTransferId()
    {
        uint id;
        do id = TransferIds.New();
        while (_deliveries.ContainsKey(id));
        return id;
    }

    private static string[] SafeFiles(string folder)
    {
        try
        {
            return Directory.Exists(folder) ? Directory.GetFiles(folder) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("spool: could not remove {0}: {1}", path, e.Message);
        }
    }
}
