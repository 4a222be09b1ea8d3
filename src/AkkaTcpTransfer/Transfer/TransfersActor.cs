using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Transfer.Storage;

namespace AkkaTcpTransfer.Transfer;

/// <summary>A node's table of transfers, both directions: it queues outgoing files (a folder is many) and starts at
/// most max-concurrent-sends at a time through its parent (the node root, which finds the right connection), routes
/// cancel / accept / reject by id to the transfer actor, answers list requests, and tells the command-line program
/// when every outgoing transfer is over.</summary>
internal sealed class TransfersActor : ReceiveActor, IWithTimers
{
    private sealed class Resume
    {
        public static readonly Resume Instance = new();
    }

    /// <summary>How long offers pause after a peer refused one for its pace.</summary>
    private static readonly TimeSpan ThrottlePause = TimeSpan.FromSeconds(1);

    /// <summary>Root -> here: send <paramref name="Path"/> to <paramref name="To"/> (already resolved to a name).</summary>
    public sealed record Send(string To, string Path);

    /// <summary>Root -> here, once: the node's <see cref="PartialFilesActor"/>, asked to list partials with the transfers.</summary>
    public sealed record UsePartials(IActorRef Partials);

    /// <summary>Root -> here, at every Welcome: the offers per second the server takes from this client, and how many at once.</summary>
    public sealed record PeerOfferRate(int OffersPerSecond, int Burst);

    private sealed class Entry(uint id, string file, TransferDirection direction, string peer, long size)
    {
        public uint Id { get; } = id;
        public string File { get; } = file;
        public TransferDirection Direction { get; } = direction;
        public string Peer { get; } = peer;
        public long Size { get; } = size;
        public long Bytes { get; set; }
        public TransferState State { get; set; } = direction == TransferDirection.Send ? TransferState.Queued : TransferState.Offered;
        public IActorRef? Actor { get; set; }
        public TransferMessages.StartSend? Spec { get; init; }
        /// <summary>Files this transfer carries (a folder transfer, many).</summary>
        public int Files { get; init; } = 1;
    }

    /// <summary>A decision on one file of a folder holds for the folder's other files from the same peer for this long
    /// (a folder's files are offered a few at a time, as earlier ones finish).</summary>
    private static readonly TimeSpan FolderDecisionLasts = TimeSpan.FromMinutes(10);

    private readonly Settings.NodeSettings _settings;
    private readonly Dictionary<uint, Entry> _entries = [];
    private readonly Dictionary<(string Peer, string Folder), (bool Accept, DateTime Until)> _folderDecisions = [];
    private readonly Queue<uint> _queued = new();
    /// <summary>Files whose offer the peer refused for its pace: offered again first, once the pause is over.</summary>
    private readonly Queue<uint> _retry = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    /// <summary>Offers go out at most this fast (transfer.offers-per-second, below a default server's limit), halved
    /// each time a peer refuses one for its pace anyway (a server configured lower).</summary>
    private Limits.TokenBucket _pace;
    private TimeSpan _pausedUntil;
    private readonly List<IActorRef> _drainWaiters = [];
    private IActorRef? _partials;
    /// <summary>Sends holding one of max-concurrent-sends: streaming, or offered within the grace.</summary>
    private int _activeSends;
    /// <summary>Offers past their grace, waiting for a person: they hold no place until accepted.</summary>
    private readonly HashSet<uint> _awaiting = [];
    /// <summary>Paths being scanned (a folder's files are not entries yet), by their scanner.</summary>
    private readonly Dictionary<IActorRef, string> _scanning = [];
    private int _sent;
    private int _sendFailures;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(Settings.NodeSettings settings) => Akka.Actor.Props.Create(() => new TransfersActor(settings));

    public TransfersActor(Settings.NodeSettings settings)
    {
        _settings = settings;
        _pace = new Limits.TokenBucket(settings.Transfer.OffersPerSecond, settings.Transfer.OffersPerSecond, TimeSpan.Zero);
        Receive<Resume>(_ => Pump());
        Receive<TransferMessages.Throttled>(OnThrottled);
        Receive<Send>(s =>
        {
            var scanner = Context.ActorOf(PathScannerActor.Props(s.To, s.Path, _settings.Transfer.FileIoDispatcher));
            _scanning[scanner] = Path.GetFileName(Path.TrimEndingDirectorySeparator(s.Path)) is { Length: > 0 } name ? name : s.Path;
        });
        Receive<PathScannerActor.Scanned>(OnScanned);
        Receive<PathScannerActor.ScanFailed>(f =>
        {
            _scanning.Remove(Sender);
            Context.System.EventStream.Publish(new ErrorOccurred(f.Reason));
            CheckDrained();
        });
        Receive<TransferMessages.SendRefused>(OnSendRefused);
        Receive<TransferMessages.AwaitingDecision>(a =>
        {
            if (!_entries.TryGetValue(a.Id, out var entry) || entry.State != TransferState.Offered || !_awaiting.Add(a.Id)) return;
            _activeSends--;
            Pump();
        });
        Receive<TransferMessages.Attached>(OnAttached);
        Receive<TransferMessages.Ended>(OnEnded);
        Receive<NodeCommands.CancelTransfer>(c => WithEntry(c.Id, e => Cancel(e)));
        Receive<NodeCommands.AcceptTransfer>(a => WithEntry(a.Id, e => DecideFolderOrFile(e, true)));
        Receive<NodeCommands.RejectTransfer>(r => WithEntry(r.Id, e => DecideFolderOrFile(e, false)));
        Receive<UsePartials>(u => _partials = u.Partials);
        Receive<PeerOfferRate>(r =>
        {
            // The server announced how many offers a second it takes (its bucket for this session starts full): never
            // offer faster than that, or more at once, or faster than we would anyway.
            var rate = Math.Min(_settings.Transfer.OffersPerSecond, r.OffersPerSecond);
            _pace = new Limits.TokenBucket(rate, Math.Min(rate, r.Burst), _clock.Elapsed);
        });
        Receive<NodeCommands.ListTransfers>(_ =>
        {
            Context.System.EventStream.Publish(new TransfersListed(
                [.. _entries.Values.Select(e => new TransferSummary(TransferIds.Format(e.Id), e.File, e.Direction, e.Peer, e.Bytes, e.Size, e.State))]));
            _partials?.Tell(PartialFilesActor.List.Instance);
        });
        Receive<NodeLifecycle.DrainOutgoing>(_ =>
        {
            _drainWaiters.Add(Sender);
            CheckDrained();
        });
        // The answer reflects every event this node published before it: a send shown as waiting is listed.
        Receive<NodeLifecycle.ListOutgoing>(_ => Sender.Tell(new NodeLifecycle.OutgoingOpen(
            [.. _scanning.Values.Concat(_entries.Values.Where(e => e.Direction == TransferDirection.Send).Select(e => e.File)).Order(StringComparer.Ordinal)])));
        // From the transfer actor itself, before it publishes the event: a listing made after the event includes it.
        Receive<TransferStarted>(s => Update(s.Id, e =>
        {
            e.State = s.Direction == TransferDirection.Send ? TransferState.Sending : TransferState.Receiving;
            // Accepted after its grace: it streams, and holds a place again (above the limit for a while, if need be).
            if (s.Direction == TransferDirection.Send && _awaiting.Remove(e.Id)) _activeSends++;
        }));
        Receive<TransferProgress>(p => Update(p.Id, e => e.Bytes = p.Bytes));
    }

    /// <summary>Its children are path scanners: one that fails is stopped (its send fails with the reason it reports).</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    /// <summary>A file is offered on its own. A folder's small files (below transfer.folder-file-max-size) go together,
    /// up to transfer.folder-max-files per folder transfer ("album/"); its larger files are offered one by one.</summary>
    private void OnScanned(PathScannerActor.Scanned scanned)
    {
        _scanning.Remove(Sender);
        var together = scanned.Files.Where(f => TopFolder(f.File) is not null && f.Size < _settings.Transfer.FolderFileMaxSize).ToList();
        foreach (var group in together.Chunk(_settings.Transfer.FolderMaxFiles))
        {
            var folder = TopFolder(group[0].File)!;
            FolderBundle bundle;
            try
            {
                bundle = new FolderBundle(folder, [.. group.Select(f => new FolderEntry(f.Path, f.File[(folder.Length + 1)..], f.Size, f.Fingerprint))]);
            }
            catch (ArgumentException e)
            {
                Context.System.EventStream.Publish(new ErrorOccurred($"cannot send '{scanned.Path}': {e.Message}"));
                continue;
            }
            Queue(new TransferMessages.StartSend(NewId(), Path.GetFullPath(scanned.Path), Protocol.FolderStream.FolderOfferName(folder),
                scanned.To, bundle.Length, bundle.Fingerprint, bundle), group.Length);
        }
        foreach (var f in scanned.Files.Except(together))
            Queue(new TransferMessages.StartSend(NewId(), f.Path, f.File, scanned.To, f.Size, f.Fingerprint), 1);
        Pump();
    }

    private void Queue(TransferMessages.StartSend spec, int files)
    {
        _entries[spec.Id] = new Entry(spec.Id, spec.File, TransferDirection.Send, spec.To, spec.Size) { Spec = spec, Files = files };
        _queued.Enqueue(spec.Id);
        _sent += files;
    }

    private void Pump()
    {
        while (_activeSends < _settings.Transfer.MaxConcurrentSends && _awaiting.Count < _settings.Transfer.MaxWaitingOffers
               && (_retry.Count > 0 || _queued.Count > 0))
        {
            var now = _clock.Elapsed;
            var wait = now < _pausedUntil ? _pausedUntil - now : _pace.WaitFor(now);
            if (wait > TimeSpan.Zero)
            {
                if (!Timers.IsTimerActive(nameof(Resume))) Timers.StartSingleTimer(nameof(Resume), Resume.Instance, wait);
                break;
            }
            var id = _retry.Count > 0 ? _retry.Dequeue() : _queued.Dequeue();
            if (!_entries.TryGetValue(id, out var entry)) continue; // cancelled while queued
            _pace.TryTake(now);
            entry.State = TransferState.Offered;
            _activeSends++;
            Context.Parent.Tell(entry.Spec!);
        }
        CheckDrained();
    }

    /// <summary>The peer refused an offer for its pace only: the file waits its turn again (first in line), offers
    /// pause for a moment and go on at half the pace (once per pause: a few offers refused together halve it once).</summary>
    private void OnThrottled(TransferMessages.Throttled throttled)
    {
        GiveBackPlace(throttled.Id);
        if (_entries.TryGetValue(throttled.Id, out var entry))
        {
            entry.State = TransferState.Queued;
            entry.Actor = null;
            _retry.Enqueue(throttled.Id);
        }
        var now = _clock.Elapsed;
        if (now >= _pausedUntil)
        {
            if (throttled.SlowDown)
            {
                var slower = Math.Max(1, _pace.Rate / 2);
                _pace = new Limits.TokenBucket(slower, slower, now);
            }
            _pausedUntil = now + ThrottlePause;
        }
        Pump();
    }

    private void OnSendRefused(TransferMessages.SendRefused refused)
    {
        if (!_entries.Remove(refused.Id, out var entry)) return;
        Context.System.EventStream.Publish(new TransferFailed(TransferIds.Format(refused.Id), entry.File, refused.Reason));
        _activeSends--;
        _sendFailures += entry.Files;
        Pump();
    }

    /// <summary>Ids of incoming transfers are chosen by peers, one connection at a time: two peers may pick the same one.
    /// The first keeps the entry (and the id in commands); a later one with that id is not listed, and nothing it says
    /// touches the first's entry.</summary>
    private void OnAttached(TransferMessages.Attached attached)
    {
        if (!_entries.TryGetValue(attached.Id, out var entry))
        {
            entry = new Entry(attached.Id, attached.File, attached.Direction, attached.Peer, attached.Size);
            _entries[attached.Id] = entry;
        }
        else if (entry.Actor is not null && !entry.Actor.Equals(attached.Actor))
        {
            return;
        }
        entry.Actor = attached.Actor;
        // One decision for a whole folder: a later file of a folder already accepted (or rejected) is decided at once.
        if (entry.Direction == TransferDirection.Receive && TopFolder(entry.File) is { } folder
            && _folderDecisions.TryGetValue((entry.Peer, folder), out var decision))
        {
            if (decision.Until > DateTime.UtcNow) Decide(entry, decision.Accept);
            else _folderDecisions.Remove((entry.Peer, folder));
        }
    }

    /// <summary>The folder a file offered inside one belongs to ("album" for "album/tracks/01.flac"), or null.</summary>
    public static string? TopFolder(string file)
    {
        var slash = file.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? file[..slash] : null;
    }

    /// <summary>A decision on a file of a folder is the decision on the folder: every file of it waiting now, and those
    /// its sender offers next, get the same answer.</summary>
    private void DecideFolderOrFile(Entry entry, bool accept)
    {
        Decide(entry, accept);
        if (entry.Direction != TransferDirection.Receive || TopFolder(entry.File) is not { } folder) return;
        _folderDecisions[(entry.Peer, folder)] = (accept, DateTime.UtcNow + FolderDecisionLasts);
        foreach (var other in _entries.Values)
        {
            if (other != entry && other.Direction == TransferDirection.Receive && other.State == TransferState.Offered && other.Peer == entry.Peer
                && TopFolder(other.File) == folder)
                Decide(other, accept);
        }
    }

    private void OnEnded(TransferMessages.Ended ended)
    {
        // Only the transfer that owns the entry ends it (see OnAttached).
        var owns = !_entries.TryGetValue(ended.Id, out var entry) || entry.Actor is null || entry.Actor.Equals(Sender);
        if (owns) _entries.Remove(ended.Id);
        if (ended.Direction != TransferDirection.Send) return;
        GiveBackPlace(ended.Id);
        if (!ended.Delivered) _sendFailures += owns && entry is not null ? entry.Files : 1;
        Pump();
    }

    /// <summary>A send is over (or queued again): its place goes back, unless it had given it up while waiting for a person.</summary>
    private void GiveBackPlace(uint id)
    {
        if (!_awaiting.Remove(id)) _activeSends--;
    }

    private void Cancel(Entry entry)
    {
        if (entry.Actor is not null)
        {
            entry.Actor.Tell(new TransferMessages.CancelLocal(_settings.Name));
            return;
        }
        if (entry.Direction == TransferDirection.Send && entry.State == TransferState.Queued)
        {
            _entries.Remove(entry.Id);
            _sendFailures += entry.Files;
            Context.System.EventStream.Publish(new TransferCancelled(TransferIds.Format(entry.Id), entry.File, _settings.Name));
            CheckDrained();
            return;
        }
        Context.System.EventStream.Publish(new ErrorOccurred($"transfer {TransferIds.Format(entry.Id)} is starting; cancel it again in a moment"));
    }

    private static void Decide(Entry entry, bool accept)
    {
        if (entry.Direction != TransferDirection.Receive || entry.Actor is null)
        {
            Context.System.EventStream.Publish(new ErrorOccurred($"transfer {TransferIds.Format(entry.Id)} is not an offer waiting for a decision"));
            return;
        }
        entry.Actor.Tell(new TransferMessages.Decide(accept, accept ? "" : "the receiver declined"));
    }

    private void WithEntry(string text, Action<Entry> action)
    {
        if (TransferIds.TryParse(text, out var id) && _entries.TryGetValue(id, out var entry))
        {
            action(entry);
            return;
        }
        Context.System.EventStream.Publish(new ErrorOccurred($"no transfer with id '{text}' (see /transfers)"));
    }

    private void Update(string id, Action<Entry> change)
    {
        if (TransferIds.TryParse(id, out var key) && _entries.TryGetValue(key, out var entry)) change(entry);
    }

    private uint NewId()
    {
        uint id;
        do id = TransferIds.New();
        while (_entries.ContainsKey(id));
        return id;
    }

    private void CheckDrained()
    {
        if (_drainWaiters.Count == 0 || _scanning.Count > 0 || _activeSends > 0 || _queued.Any(_entries.ContainsKey) || _retry.Any(_entries.ContainsKey)) return;
        foreach (var waiter in _drainWaiters) waiter.Tell(new NodeLifecycle.OutgoingDrained(_sent, _sendFailures));
        _drainWaiters.Clear();
    }
}
