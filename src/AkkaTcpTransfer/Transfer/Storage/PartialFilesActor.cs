using System.Globalization;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Text;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>Keeps a node's partial files in order, in <c>downloads/.akka-tcp-transfer</c>:
/// <list type="bullet">
/// <item>one transfer at a time per partial (a second concurrent transfer of the same file gets a private partial
/// that is not kept for a resume), also across processes sharing the folder: partial files are locked while open, and
/// a partial another process holds is never touched;</item>
/// <item>free space reserved for every accepted offer, so two offers cannot both count on the same free bytes;</item>
/// <item>the hash states of interrupted transfers (a resume in the same process never re-reads the partial file);</item>
/// <item>a description of each resumable partial beside it (<c>.meta</c>), so partials can be listed;</item>
/// <item>expiry: partials untouched for <c>transfer.partial-max-age</c> are removed at start and every hour after.</item>
/// </list>
/// Runs on the file-io dispatcher. It has no children. Every disk access is contained where it happens: a folder or
/// file that cannot be read or changed is reported (logged, and published for a listing) and skipped; a claim is always
/// answered. The node cannot work without this actor (its parent ends the node if it stops).</summary>
internal sealed class PartialFilesActor : ReceiveActor, IWithTimers
{
    /// <summary>Claim the partial file for <paramref name="Key"/>, reserving space for <paramref name="Size"/> bytes;
    /// answered with <see cref="Claimed"/> or <see cref="ClaimRefused"/>. <paramref name="Private"/>: the shared
    /// partial is held by another process, use a private one.</summary>
    /// <remarks><paramref name="Reservation"/> is the claim's own token: <see cref="Park"/> and <see cref="Release"/>
    /// name the claim by it (transfer ids are chosen by peers and can collide; it cannot).</remarks>
    public sealed record Claim(string Key, uint TransferId, long Size, bool Private, DiskReservation Reservation, PartialMeta Meta);

    /// <summary><paramref name="Resumable"/> false: the partial is private to this transfer and not kept for a resume.</summary>
    public sealed record Claimed(string Path, ParkedPartial? Parked, bool Resumable);

    public sealed record ClaimRefused(string Reason);

    /// <summary>The transfer stopped with its partial file kept: remember its hash state, release the claim.</summary>
    public sealed record Park(DiskReservation Claim, ParkedPartial State);

    /// <summary>The transfer is over and its partial file gone (moved into place or deleted), or it never opened one:
    /// release the claim (key, space, descriptor).</summary>
    public sealed record Release(DiskReservation Claim);

    /// <summary>Publish <see cref="PartialsListed"/>.</summary>
    public sealed record List
    {
        public static readonly List Instance = new();
        private List() { }
    }

    private sealed record Sweep
    {
        public static readonly Sweep Instance = new();
        private Sweep() { }
    }

    /// <summary>A claim has waited <see cref="ClaimWait"/> for its key: it gets a fresh private partial instead.</summary>
    private sealed record WaitOver(DiskReservation Reservation);

    /// <summary>How long a claim waits for the transfer holding its partial to let go. A resend right after a lost
    /// connection arrives while the old transfer is still failing (its connection's end is noticed at about the same
    /// time): waiting a moment lets it resume instead of starting over.</summary>
    private static readonly TimeSpan ClaimWait = TimeSpan.FromSeconds(5);

    /// <summary>What a resumable partial is: the offered name, who sent it, its size, when it began.</summary>
    public sealed record PartialMeta(string File, string From, long Size, DateTimeOffset Started);

    private const int MaxParked = 256;
    private static readonly TimeSpan SweepInterval = TimeSpan.FromHours(1);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _folder;
    private readonly Settings.TransferSettings _settings;
    private readonly HashSet<string> _inUse = [];
    /// <summary>Every granted claim, by its token: the shared key it holds (null for a private partial).</summary>
    private readonly Dictionary<DiskReservation, string?> _claims = [];
    private readonly Tcp.DescriptorBudget _descriptors;
    private readonly Dictionary<string, (ParkedPartial State, long Sequence)> _parked = [];
    /// <summary>Claims waiting for a key in use, in arrival order, with whom to answer.</summary>
    private readonly Dictionary<string, List<(Claim Claim, IActorRef ReplyTo)>> _waiting = [];
    private long _sequence;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string downloads, Settings.TransferSettings settings) =>
        Akka.Actor.Props.Create(() => new PartialFilesActor(downloads, settings, null)).WithDispatcher(settings.FileIoDispatcher);

    /// <summary>For tests: <paramref name="enumerate"/> lists a folder's files (folder, pattern) in place of the file system,
    /// to make a listing fail as a disk would.</summary>
    internal static Props Props(string downloads, Settings.TransferSettings settings, Func<string, string, IEnumerable<string>> enumerate) =>
        Akka.Actor.Props.Create(() => new PartialFilesActor(downloads, settings, enumerate)).WithDispatcher(settings.FileIoDispatcher);

    private readonly Func<string, string, IEnumerable<string>> _enumerate;

    public PartialFilesActor(string downloads, Settings.TransferSettings settings, Func<string, string, IEnumerable<string>>? enumerate)
    {
        _enumerate = enumerate ?? Directory.EnumerateFiles;
        _folder = Path.Combine(Path.GetFullPath(downloads), SafeNames.PartialsFolder);
        _settings = settings;
        _descriptors = Tcp.DescriptorBudget.Get(Context.System);
        Receive<Claim>(c => OnClaim(c, Sender));
        Receive<WaitOver>(w =>
        {
            if (_waiting.Values.SelectMany(x => x).FirstOrDefault(x => x.Claim.Reservation == w.Reservation) is not { Claim: not null } waiter) return;
            Unwait(w.Reservation);
            Grant(waiter.Claim, waiter.ReplyTo, privatePartial: true);
        });
        Receive<Park>(p =>
        {
            if (Unclaim(p.Claim) is not { } key)
            {
                p.State.Hash.Dispose();
                return;
            }
            if (_parked.Remove(key, out var old)) old.State.Hash.Dispose();
            _parked[key] = (p.State, ++_sequence);
            if (_parked.Count > MaxParked)
            {
                var oldest = _parked.MinBy(kv => kv.Value.Sequence);
                oldest.Value.State.Hash.Dispose();
                _parked.Remove(oldest.Key);
            }
            ServeWaiting(key);
        });
        Receive<Release>(r =>
        {
            // A transfer that ends while its claim still waits (its connection went) leaves the queue.
            if (Unwait(r.Claim)) return;
            if (Unclaim(r.Claim) is not { } key) return;
            if (!File.Exists(PartPath(key))) TryDelete(MetaPath(key));
            ServeWaiting(key);
        });
        Receive<List>(_ => Context.System.EventStream.Publish(new PartialsListed(ListPartials())));
        Receive<Sweep>(_ => RemoveExpired());
    }

    protected override void PreStart()
    {
        RemoveExpired();
        Timers.StartPeriodicTimer(nameof(Sweep), Sweep.Instance, SweepInterval);
    }

    private string PartPath(string key) => Path.Combine(_folder, $"{key}.part");

    private string MetaPath(string key) => Path.Combine(_folder, $"{key}.meta");

    /// <summary>Ends a claim: its space and descriptor are given back; returns the shared key it held, if any.</summary>
    private string? Unclaim(DiskReservation claim)
    {
        if (!_claims.Remove(claim, out var key)) return null;
        _descriptors.Release();
        if (key is not null) _inUse.Remove(key);
        return key;
    }

    private void OnClaim(Claim claim, IActorRef replyTo)
    {
        if (_claims.ContainsKey(claim.Reservation)) Unclaim(claim.Reservation);
        if (!claim.Private && _inUse.Contains(claim.Key))
        {
            // Its partial is held by another transfer (most likely the one a lost connection is just ending): wait.
            if (!_waiting.TryGetValue(claim.Key, out var waiters)) _waiting[claim.Key] = waiters = [];
            waiters.Add((claim, replyTo));
            Timers.StartSingleTimer(claim.Reservation, new WaitOver(claim.Reservation), ClaimWait);
            return;
        }
        Grant(claim, replyTo, claim.Private);
    }

    private bool Unwait(DiskReservation reservation)
    {
        foreach (var (key, waiters) in _waiting)
        {
            if (waiters.RemoveAll(w => w.Claim.Reservation == reservation) == 0) continue;
            if (waiters.Count == 0) _waiting.Remove(key);
            Timers.Cancel(reservation);
            return true;
        }
        return false;
    }

    /// <summary>The key was let go: the first claim waiting for it gets it.</summary>
    private void ServeWaiting(string key)
    {
        if (!_waiting.TryGetValue(key, out var waiters)) return;
        var (claim, replyTo) = waiters[0];
        waiters.RemoveAt(0);
        if (waiters.Count == 0) _waiting.Remove(key);
        Timers.Cancel(claim.Reservation);
        Grant(claim, replyTo, privatePartial: false);
    }

    private void Grant(Claim claim, IActorRef replyTo, bool privatePartial)
    {
        if (!_descriptors.TryAcquireFile())
        {
            replyTo.Tell(new ClaimRefused("this node is short of file descriptors; try again later"));
            return;
        }
        privatePartial = privatePartial || !_inUse.Add(claim.Key);
        // The transfer's id in hex, as people see it: written here rather than through TransferIds, which belongs to the
        // transfer actors' namespace (storage uses nothing of theirs).
        var path = privatePartial
            ? Path.Combine(_folder, $"{claim.Key}-{Environment.ProcessId}-{claim.TransferId.ToString("x8", CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}.tmp")
            : PartPath(claim.Key);
        if (Reserve(claim, path) is { } problem)
        {
            if (!privatePartial) _inUse.Remove(claim.Key);
            _descriptors.Release();
            replyTo.Tell(new ClaimRefused(problem));
            return;
        }
        _claims[claim.Reservation] = privatePartial ? null : claim.Key;
        if (privatePartial)
        {
            replyTo.Tell(new Claimed(path, null, Resumable: false));
            return;
        }
        RemoveStaleVersions(claim.Key);
        _parked.Remove(claim.Key, out var parked);
        WriteMeta(claim.Key, claim.Meta);
        replyTo.Tell(new Claimed(path, parked.State, Resumable: true));
    }

    /// <summary>Checks that the file system keeps transfer.min-free-space after this offer and every other accepted
    /// one have written all they still need, and reserves what this one needs. Null when reserved, else why not.</summary>
    private string? Reserve(Claim claim, string path)
    {
        if (!_settings.CheckFreeSpace) return null;
        long existing = 0, free;
        try
        {
            Directory.CreateDirectory(_folder);
            if (File.Exists(path)) existing = new FileInfo(path).Length;
            free = new DriveInfo(_folder).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return $"cannot use the downloads folder: {e.Message}";
        }
        var needed = Math.Max(0, claim.Size - existing);
        var promised = _claims.Keys.Where(r => r != claim.Reservation).Sum(r => r.Remaining);
        if (free - promised - needed < _settings.MinFreeSpace)
        {
            var others = promised > 0 ? $", {Units.Bytes(promised)} of it promised to transfers in progress" : "";
            return $"not enough free space: {Units.Bytes(needed)} needed, {Units.Bytes(free)} free{others} (keeping {Units.Bytes(_settings.MinFreeSpace)} spare)";
        }
        claim.Reservation.Reserve(needed);
        return null;
    }

    /// <summary>Partials of the same sender and file name but another size or time stamp can never resume. One that
    /// another process holds open (locked) is left alone.</summary>
    private void RemoveStaleVersions(string key)
    {
        var stem = key[..key.IndexOf('-', StringComparison.Ordinal)];
        if (!Directory.Exists(_folder)) return;
        try
        {
            foreach (var file in _enumerate(_folder, $"{stem}-*.part"))
            {
                var otherKey = Path.GetFileNameWithoutExtension(file);
                if (otherKey == key || _inUse.Contains(otherKey) || !DeleteUnlessLocked(file)) continue;
                TryDelete(MetaPath(otherKey));
                if (_parked.Remove(otherKey, out var stale)) stale.State.Hash.Dispose();
                _log.Info("removed the partial file of an older version: {0}", file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("cannot tidy the partials folder: {0}", e.Message);
        }
    }

    /// <summary>Partials untouched for longer than transfer.partial-max-age (and not in use here or elsewhere) are
    /// removed, with their descriptions; so are descriptions whose partial is gone.</summary>
    private void RemoveExpired()
    {
        if (!Directory.Exists(_folder)) return;
        var cutoff = DateTime.UtcNow - _settings.PartialMaxAge;
        try
        {
            foreach (var file in _enumerate(_folder, "*"))
            {
                var name = Path.GetFileName(file);
                var key = Path.GetFileNameWithoutExtension(file);
                try
                {
                    if (name.EndsWith(".meta", StringComparison.Ordinal))
                    {
                        if (!File.Exists(PartPath(key))) TryDelete(file);
                        continue;
                    }
                    if (_inUse.Contains(key) || File.GetLastWriteTimeUtc(file) > cutoff || !DeleteUnlessLocked(file)) continue;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // This one file cannot be looked at: skipped, the others are still tidied.
                    _log.Warning("cannot check the partial file {0}: {1}", file, e.Message);
                    continue;
                }
                TryDelete(MetaPath(key));
                if (_parked.Remove(key, out var parked)) parked.State.Hash.Dispose();
                _log.Info("removed an abandoned partial file (untouched for more than {0}): {1}", _settings.PartialMaxAge, file);
            }
            // A folder transfer's files wait in "JOURNAL.d" beside its journal: gone with the journal.
            foreach (var folder in Directory.EnumerateDirectories(_folder, "*.d"))
            {
                try
                {
                    if (File.Exists(folder[..^2]) || Directory.GetLastWriteTimeUtc(folder) > DateTime.UtcNow - TimeSpan.FromMinutes(1)) continue;
                    Directory.Delete(folder, recursive: true);
                    _log.Info("removed the files of an abandoned folder transfer: {0}", folder);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _log.Warning("cannot remove {0}: {1}", folder, e.Message);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("cannot tidy the partials folder: {0}", e.Message);
        }
    }

    private List<PartialSummary> ListPartials()
    {
        var list = new List<PartialSummary>();
        if (!Directory.Exists(_folder)) return list;
        try
        {
            foreach (var part in _enumerate(_folder, "*.part"))
            {
                var key = Path.GetFileNameWithoutExtension(part);
                try
                {
                    var meta = JsonSerializer.Deserialize<PartialMeta>(File.ReadAllText(MetaPath(key)));
                    if (meta is null) continue;
                    var info = new FileInfo(part);
                    list.Add(new PartialSummary(meta.File, meta.From, info.Length, meta.Size, info.LastWriteTimeUtc + _settings.PartialMaxAge,
                        _inUse.Contains(key)));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
                {
                    // no description (an older version's partial, or one being written): not listed
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The folder itself cannot be read: say so, list what was read, and carry on.
            _log.Warning("cannot list the partials folder {0}: {1}", _folder, e.Message);
            Context.System.EventStream.Publish(new ErrorOccurred($"cannot list the partial files in {_folder}: {e.Message}"));
        }
        return [.. list.OrderBy(p => p.File, StringComparer.Ordinal)];
    }

    private void WriteMeta(string key, PartialMeta meta)
    {
        try
        {
            if (File.Exists(MetaPath(key))) return;
            Directory.CreateDirectory(_folder);
            File.WriteAllText(MetaPath(key), JsonSerializer.Serialize(meta));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("cannot describe the partial file {0}: {1}", key, e.Message);
        }
    }

    /// <summary>Deletes <paramref name="path"/> unless another process holds it open with a lock; true if deleted.</summary>
    private static bool DeleteUnlessLocked(string path)
    {
        try
        {
            using (File.Open(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                // nobody else holds it: safe to remove
            }
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // harmless: the next sweep tries again
        }
    }

    protected override void PostStop()
    {
        foreach (var (state, _) in _parked.Values) state.Hash.Dispose();
    }
}

/// <summary>Space an accepted offer still needs on the receiver's disk: reserved at the claim, reduced as the
/// receiver writes (by the receiver, on its own thread), released when the transfer ends.</summary>
internal sealed class DiskReservation
{
    private long _needed;
    private long _written;

    public void Reserve(long bytes) => Volatile.Write(ref _needed, bytes);

    public void Wrote(long bytes) => Interlocked.Add(ref _written, bytes);

    public long Remaining => Math.Max(0, Volatile.Read(ref _needed) - Volatile.Read(ref _written));
}
