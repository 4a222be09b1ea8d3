using System.Security.Cryptography;
using Akka.Actor;
using Microsoft.Win32.SafeHandles;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Writes one incoming file for a <see cref="ReceiverActor"/> (its parent), on the file-io dispatcher. Bytes
/// go to a partial file inside the downloads folder's partials folder and are hashed as they are written; only after
/// the hash is verified is the file moved to its final name, which never replaces anything (a clash gets
/// "name (1).ext"). Can hand its hash state over for a later resume instead of re-reading the partial file.</summary>
internal sealed class FileWriterActor : ReceiveActor
{
    /// <summary>Open (or create) the partial file. <paramref name="Parked"/>: the hash state kept from an interrupted
    /// transfer of the same file, if this node still has it in memory.</summary>
    public sealed record Open(long ExpectedSize, ParkedPartial? Parked);
    /// <summary>Ready: bytes from <paramref name="Offset"/> on are wanted; <paramref name="PrefixSha256"/> is the hash of
    /// the bytes already there (empty when Offset is 0).</summary>
    public sealed record Opened(long Offset, byte[] PrefixSha256);
    public sealed record Restart
    {
        public static readonly Restart Instance = new();
        private Restart() { }
    }
    public sealed record Write(long Offset, ReadOnlyMemory<byte> Data);
    public sealed record Written(long Length);
    /// <summary>All bytes are written: flush and answer with the SHA-256 of the whole file.</summary>
    public sealed record Complete
    {
        public static readonly Complete Instance = new();
        private Complete() { }
    }
    public sealed record Completed(byte[] Sha256);
    /// <summary>Move the verified file to <paramref name="Parts"/> under the downloads folder.</summary>
    public sealed record Place(string Downloads, IReadOnlyList<string> Parts);
    public sealed record Placed(string Path);
    /// <summary>Keep the partial file and hand over the hash state (for a resume).</summary>
    public sealed record Suspend
    {
        public static readonly Suspend Instance = new();
        private Suspend() { }
    }
    public sealed record Suspended(ParkedPartial State);
    /// <summary>Delete the partial file.</summary>
    public sealed record Discard
    {
        public static readonly Discard Instance = new();
        private Discard() { }
    }
    public sealed record WriteFailed(string Reason, bool Resumable);

    private sealed record HashSlice(long Position, long Length);

    private const int PrefixSlice = 8 * 1024 * 1024;

    private readonly string _partialPath;
    private readonly bool _sync;
    private readonly bool _checkFreeSpace;
    private readonly long _minFreeSpace;
    private IncrementalHash? _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private SafeFileHandle? _handle;
    private long _length;
    private bool _failed;

    public static Props Props(string partialPath, Settings.TransferSettings settings) =>
        Akka.Actor.Props.Create(() => new FileWriterActor(partialPath, settings.SyncOnComplete, settings.CheckFreeSpace, settings.MinFreeSpace))
            .WithDispatcher(settings.FileIoDispatcher);

    public FileWriterActor(string partialPath, bool sync, bool checkFreeSpace, long minFreeSpace)
    {
        _partialPath = partialPath;
        _sync = sync;
        _checkFreeSpace = checkFreeSpace;
        _minFreeSpace = minFreeSpace;
        Receive<Open>(OnOpen);
        Receive<HashSlice>(OnHashSlice);
        Receive<Restart>(_ => Guard(() =>
        {
            RandomAccess.SetLength(_handle!, 0);
            _hash!.GetHashAndReset();
            _length = 0;
        }));
        Receive<Write>(OnWrite);
        Receive<Complete>(_ => Guard(() =>
        {
            if (_sync) RandomAccess.FlushToDisk(_handle!);
            var sha = _hash!.GetHashAndReset();
            _handle!.Dispose();
            _handle = null;
            Sender.Tell(new Completed(sha));
        }));
        Receive<Place>(OnPlace);
        Receive<Suspend>(_ => OnSuspend());
        Receive<Discard>(_ =>
        {
            CloseAndDelete();
            Sender.Tell(Discard.Instance);
        });
    }

    private void OnOpen(Open open)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_partialPath)!);
            _handle = File.OpenHandle(_partialPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            var existing = RandomAccess.GetLength(_handle);
            if (existing > open.ExpectedSize)
            {
                RandomAccess.SetLength(_handle, 0);
                existing = 0;
            }
            if (_checkFreeSpace)
            {
                var free = new DriveInfo(Path.GetDirectoryName(_partialPath)!).AvailableFreeSpace;
                var needed = open.ExpectedSize - existing;
                if (free - needed < _minFreeSpace)
                {
                    FailNow($"not enough free space: {Units.Bytes(needed)} needed, {Units.Bytes(free)} free (keeping {Units.Bytes(_minFreeSpace)} spare)", resumable: false);
                    return;
                }
            }
            if (open.Parked is { } parked && parked.Length == existing && File.GetLastWriteTimeUtc(_partialPath) == parked.LastWriteUtc)
            {
                // Same process, untouched partial file: the hash state is still here, nothing needs re-reading.
                _hash!.Dispose();
                _hash = parked.Hash;
                _length = parked.Length;
                Sender.Tell(new Opened(_length, _hash.GetCurrentHash()));
                return;
            }
            open.Parked?.Hash.Dispose();
            if (existing == 0)
            {
                Sender.Tell(new Opened(0, []));
                return;
            }
            // A partial from an earlier run of this program: hash what is there, in slices.
            Self.Tell(new HashSlice(0, existing), Sender);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            FailNow($"cannot write in the downloads folder: {e.Message}", resumable: false);
        }
    }

    private void OnHashSlice(HashSlice slice)
    {
        if (_failed) return;
        var buffer = new byte[64 * 1024];
        var end = Math.Min(slice.Length, slice.Position + PrefixSlice);
        try
        {
            for (var pos = slice.Position; pos < end;)
            {
                var n = RandomAccess.Read(_handle!, buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - pos)), pos);
                if (n == 0) break;
                _hash!.AppendData(buffer.AsSpan(0, n));
                pos += n;
                _length = pos;
            }
        }
        catch (IOException e)
        {
            FailNow($"cannot read the partial file: {e.Message}", resumable: false);
            return;
        }
        if (_length < slice.Length && _length == end) Self.Tell(new HashSlice(end, slice.Length), Sender);
        else Sender.Tell(new Opened(_length, _hash!.GetCurrentHash()));
    }

    private void OnWrite(Write write)
    {
        if (_failed) return;
        if (write.Offset != _length)
        {
            FailNow($"internal error: write at {write.Offset} but {_length} bytes written", resumable: false);
            return;
        }
        try
        {
            RandomAccess.Write(_handle!, write.Data.Span, write.Offset);
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            FailNow("the receiver's disk is full", resumable: false);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            FailNow($"cannot write the file: {e.Message}", resumable: false);
            return;
        }
        _hash!.AppendData(write.Data.Span);
        _length += write.Data.Length;
        Sender.Tell(new Written(_length));
    }

    private void OnPlace(Place place)
    {
        try
        {
            var directory = Path.GetFullPath(place.Downloads);
            Directory.CreateDirectory(directory);
            for (var i = 0; i < place.Parts.Count - 1; i++)
            {
                directory = Path.Combine(directory, place.Parts[i]);
                var info = new DirectoryInfo(directory);
                if (info.LinkTarget is not null)
                {
                    FailNow($"'{place.Parts[i]}' in the downloads folder is a symbolic link; not writing through it", resumable: false);
                    return;
                }
                if (File.Exists(directory))
                {
                    FailNow($"a file named '{string.Join('/', place.Parts.Take(i + 1))}' is in the way of the folder", resumable: false);
                    return;
                }
                Directory.CreateDirectory(directory);
            }
            var name = place.Parts[^1];
            for (var n = 0; n < 10_000; n++)
            {
                var candidate = Path.Combine(directory, n == 0 ? name : SafeNames.Numbered(name, n));
                SafeNames.Combine(place.Downloads, [.. place.Parts.SkipLast(1), Path.GetFileName(candidate)]);
                if (Directory.Exists(candidate) || new FileInfo(candidate).LinkTarget is not null) continue;
                try
                {
                    // Never overwrites: fails if the name exists, also when another transfer took it a moment ago.
                    File.Move(_partialPath, candidate, overwrite: false);
                    Sender.Tell(new Placed(candidate));
                    return;
                }
                catch (IOException) when (File.Exists(candidate))
                {
                    // taken: try the next number
                }
            }
            FailNow($"no free name for '{name}'", resumable: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            FailNow($"cannot put the file in place: {e.Message}", resumable: false);
        }
    }

    private void OnSuspend()
    {
        try
        {
            if (_handle is not null)
            {
                RandomAccess.FlushToDisk(_handle);
                _handle.Dispose();
                _handle = null;
            }
        }
        catch (IOException)
        {
            // the partial is only a hint: a resume re-verifies it
        }
        var hash = _hash!;
        _hash = null; // ownership moves with the message
        Sender.Tell(new Suspended(new ParkedPartial(_length, hash, File.GetLastWriteTimeUtc(_partialPath))));
    }

    private void Guard(Action action)
    {
        if (_failed) return;
        try
        {
            action();
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            FailNow("the receiver's disk is full", resumable: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            FailNow($"file error: {e.Message}", resumable: false);
        }
    }

    private static bool IsDiskFull(IOException e) =>
        e.HResult == 28 /* ENOSPC */ || (e.HResult & 0xFFFF) is 0x70 or 0x27 /* Windows disk full */
        || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase);

    private void FailNow(string reason, bool resumable)
    {
        _failed = true;
        Sender.Tell(new WriteFailed(reason, resumable));
    }

    private void CloseAndDelete()
    {
        try
        {
            _handle?.Dispose();
            _handle = null;
            File.Delete(_partialPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // nothing more to do; the partials folder is ours and a later transfer of the same file reuses the name
        }
    }

    protected override void PostStop()
    {
        _handle?.Dispose();
        _hash?.Dispose();
    }
}

/// <summary>What is kept of an interrupted incoming transfer: how many bytes are in the partial file, the hash of
/// exactly those bytes, and the file's time stamp then (a partial file touched since is re-read, not trusted).
/// Owned by whoever holds the message; passed on, never shared.</summary>
public sealed record ParkedPartial(long Length, IncrementalHash Hash, DateTime LastWriteUtc);
