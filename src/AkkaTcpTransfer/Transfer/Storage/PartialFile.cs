using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>An incoming file on its way: bytes go to a partial file in the downloads folder's partials folder and
/// are hashed as they are written. Only after the hash is verified is the file moved to its final name, which never
/// replaces anything (a clash gets "name (1).ext"). The hash state can be handed over (<see cref="Suspend"/>) so a
/// resume in the same process never re-reads the partial file. Blocking I/O: used only by actors on the file-io
/// dispatcher. Every failure is a <see cref="TransferException"/> with a reason fit to show a user.</summary>
internal sealed class PartialFile : IReceiveSink
{
    private readonly string _path;
    private SafeFileHandle? _handle;
    private IncrementalHash? _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[]? _slice;
    private long _rehashEnd;

    public PartialFile(string path) => _path = path;

    /// <summary>Bytes written (and hashed) so far.</summary>
    public long Length { get; private set; }

    /// <summary>Opens or creates the partial file. Returns true when ready at <see cref="Length"/> (0, or the parked
    /// state matched an untouched file); false when an existing partial must first be re-hashed with
    /// <see cref="Rehash"/>.</summary>
    /// <exception cref="TransferException">With <see cref="TransferException.InUseElsewhere"/> when another process
    /// holds the partial file open (its lock): the caller then takes a private partial instead.</exception>
    public bool Open(long expectedSize, ParkedPartial? parked)
    {
        long existing;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            // FileShare.None is an exclusive lock (flock on Unix): another process using the same downloads folder
            // cannot open this partial while we write it, and we cannot open one it writes.
            _handle = File.OpenHandle(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            existing = RandomAccess.GetLength(_handle);
            if (existing > expectedSize)
            {
                RandomAccess.SetLength(_handle, 0);
                existing = 0;
            }
        }
        catch (IOException e) when (IsLocked(e))
        {
            throw new TransferException("the partial file is in use by another process", e) { InUseElsewhere = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot write in the downloads folder: {e.Message}", e);
        }
        if (parked is not null && parked.Length == existing && File.GetLastWriteTimeUtc(_path) == parked.LastWriteUtc)
        {
            // Same process, untouched partial file: the hash state is still here, nothing needs re-reading.
            _hash!.Dispose();
            _hash = parked.Hash;
            Length = parked.Length;
            return true;
        }
        parked?.Hash.Dispose();
        _rehashEnd = existing;
        return existing == 0;
    }

    /// <summary>Hashes the next slice of an existing partial file; true once done (then <see cref="Length"/> is its length).</summary>
    public bool Rehash(int slice)
    {
        _slice ??= new byte[64 * 1024];
        var end = Math.Min(_rehashEnd, Length + slice);
        try
        {
            while (Length < end)
            {
                var n = RandomAccess.Read(_handle!, _slice.AsSpan(0, (int)Math.Min(_slice.Length, end - Length)), Length);
                if (n == 0)
                {
                    _rehashEnd = Length;
                    break;
                }
                _hash!.AppendData(_slice.AsSpan(0, n));
                Length += n;
            }
        }
        catch (IOException e)
        {
            throw new TransferException($"cannot read the partial file: {e.Message}", e);
        }
        return Length >= _rehashEnd;
    }

    public byte[] CurrentHash => _hash!.GetCurrentHash();

    /// <summary>Throw away what is there and start at byte 0.</summary>
    public void Restart() => Guard(() =>
    {
        RandomAccess.SetLength(_handle!, 0);
        _hash!.GetHashAndReset();
        Length = 0;
    });

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (offset != Length) throw new InvalidOperationException($"write at {offset} but {Length} bytes written");
        try
        {
            RandomAccess.Write(_handle!, data, offset);
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            throw new TransferException("the receiver's disk is full", e, diskFull: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot write the file: {e.Message}", e);
        }
        _hash!.AppendData(data);
        Length += data.Length;
    }

    /// <summary>All bytes are written: flush (to the disk if <paramref name="sync"/>), close, and return the SHA-256
    /// of the whole file.</summary>
    public byte[] Complete(bool sync)
    {
        Guard(() =>
        {
            if (sync) RandomAccess.FlushToDisk(_handle!);
        });
        _handle!.Dispose();
        _handle = null;
        return _hash!.GetHashAndReset();
    }

    /// <summary>Moves the verified file to <paramref name="parts"/> under <paramref name="downloads"/> without replacing
    /// anything, and without following a symbolic link out of the folder. Returns where it landed.</summary>
    public string Place(string downloads, IReadOnlyList<string> parts) => Landing.Place(_path, downloads, parts)!;

    /// <summary>Keeps the partial file and hands over the hash state for a resume; this object is done.</summary>
    public ParkedPartial Suspend()
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
        _hash = null; // ownership moves to the caller
        return new ParkedPartial(Length, hash, File.GetLastWriteTimeUtc(_path));
    }

    /// <summary>Deletes the partial file (cancel, failure): nothing is left behind.</summary>
    public void Discard()
    {
        try
        {
            _handle?.Dispose();
            _handle = null;
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the partials folder is ours; a later transfer of the same file reuses or removes the name
        }
    }

    /// <summary>Runs file work; an I/O failure becomes a <see cref="TransferException"/> (<see cref="Problem"/>).</summary>
    internal static void Guard(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Problem(e);
        }
    }

    /// <summary>An I/O failure as a reason fit to show: a full disk said as such.</summary>
    internal static TransferException Problem(Exception e) => e is IOException io && IsDiskFull(io)
        ? new TransferException("the receiver's disk is full", e, diskFull: true)
        : new TransferException($"file error: {e.Message}", e);

    /// <summary>The file is locked by another open handle: ERROR_SHARING_VIOLATION on Windows; on Unix .NET reports the
    /// flock's EWOULDBLOCK (11 on Linux, 35 on macOS and BSD).</summary>
    internal static bool IsLocked(IOException e) =>
        (e.HResult & 0xFFFF) == 32 || (!OperatingSystem.IsWindows() && e.HResult is 11 or 35);

    internal static bool IsDiskFull(IOException e) =>
        e.HResult == 28 /* ENOSPC */ || (e.HResult & 0xFFFF) is 0x70 or 0x27 /* Windows disk full */
        || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase);

    public void Dispose()
    {
        _handle?.Dispose();
        _hash?.Dispose();
    }
}

/// <summary>What is kept of an interrupted incoming transfer: how many bytes are in the partial file, the hash of
/// exactly those bytes, and the file's time stamp then (a partial file touched since is re-read, not trusted).
/// Owned by whoever holds the message; passed on, never shared.</summary>
internal sealed record ParkedPartial(long Length, IncrementalHash Hash, DateTime LastWriteUtc);
