using Akka.Actor;
using Akka.Event;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Keeps a node's partial files in order: one transfer at a time per partial, the hash states of
/// interrupted transfers (so that a resume in the same process never re-reads the partial file), and removal of
/// stale partials when a changed version of a file arrives. Runs on the file-io dispatcher.</summary>
internal sealed class PartialFilesActor : ReceiveActor
{
    /// <summary>Claim the partial file for <paramref name="Key"/>; answered with <see cref="Claimed"/>.</summary>
    public sealed record Claim(string Key, uint TransferId);

    /// <summary><paramref name="Resumable"/> false: another transfer holds the key, so this one gets a private partial
    /// file that is not kept for a resume.</summary>
    public sealed record Claimed(string Path, ParkedPartial? Parked, bool Resumable);

    /// <summary>The transfer stopped with its partial file kept: remember its hash state, release the key.</summary>
    public sealed record Park(string Key, ParkedPartial State);

    /// <summary>The transfer is over and its partial file gone (moved into place or deleted): release the key.</summary>
    public sealed record Release(string Key);

    private const int MaxParked = 256;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _folder;
    private readonly HashSet<string> _inUse = [];
    private readonly Dictionary<string, (ParkedPartial State, long Sequence)> _parked = [];
    private long _sequence;

    public static Props Props(string downloads, string dispatcher) =>
        Akka.Actor.Props.Create(() => new PartialFilesActor(downloads)).WithDispatcher(dispatcher);

    public PartialFilesActor(string downloads)
    {
        _folder = Path.Combine(Path.GetFullPath(downloads), SafeNames.PartialsFolder);
        Receive<Claim>(OnClaim);
        Receive<Park>(p =>
        {
            _inUse.Remove(p.Key);
            if (_parked.Remove(p.Key, out var old)) old.State.Hash.Dispose();
            _parked[p.Key] = (p.State, ++_sequence);
            if (_parked.Count > MaxParked)
            {
                var oldest = _parked.MinBy(kv => kv.Value.Sequence);
                oldest.Value.State.Hash.Dispose();
                _parked.Remove(oldest.Key);
            }
        });
        Receive<Release>(r => _inUse.Remove(r.Key));
    }

    private void OnClaim(Claim claim)
    {
        if (!_inUse.Add(claim.Key))
        {
            Sender.Tell(new Claimed(Path.Combine(_folder, $"{claim.Key}-{TransferIds.Format(claim.TransferId)}.tmp"), null, Resumable: false));
            return;
        }
        RemoveStaleVersions(claim.Key);
        _parked.Remove(claim.Key, out var parked);
        Sender.Tell(new Claimed(Path.Combine(_folder, $"{claim.Key}.part"), parked.State, Resumable: true));
    }

    /// <summary>Partials of the same sender and file name but another size or time stamp can never resume.</summary>
    private void RemoveStaleVersions(string key)
    {
        var stem = key[..key.IndexOf('-', StringComparison.Ordinal)];
        if (!Directory.Exists(_folder)) return;
        try
        {
            foreach (var file in Directory.EnumerateFiles(_folder, $"{stem}-*.part"))
            {
                var otherKey = Path.GetFileNameWithoutExtension(file);
                if (otherKey == key || _inUse.Contains(otherKey)) continue;
                File.Delete(file);
                if (_parked.Remove(otherKey, out var stale)) stale.State.Hash.Dispose();
                _log.Info("removed the partial file of an older version: {0}", file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning("cannot tidy the partials folder: {0}", e.Message);
        }
    }

    protected override void PostStop()
    {
        foreach (var (state, _) in _parked.Values) state.Hash.Dispose();
    }
}
