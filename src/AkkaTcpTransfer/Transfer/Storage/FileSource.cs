using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>What a sender streams: one file (<see cref="FileSource"/>) or a folder's files as one
/// stream (<see cref="FolderSource"/>). Reads go forward from where the hash is; a resume first hashes its prefix.</summary>
internal interface ISendSource : IDisposable
{
    /// <summary>Fills <paramref name="into"/> with the bytes from <paramref name="offset"/> on (which must follow the
    /// bytes hashed so far), or throws if the source has fewer.</summary>
    void Read(long offset, Span<byte> into);

    /// <summary>Hashes the next slice of the first <paramref name="length"/> bytes; true once done.</summary>
    bool HashPrefix(long length, int slice);

    /// <summary>The hash a resume's prefix is compared with (after <see cref="HashPrefix"/>).</summary>
    byte[] CurrentHash { get; }

    void RestartHash();

    /// <summary>Everything is read: the hash sent in Done.</summary>
    byte[] Finish();
}

/// <summary>The file a sender sends: positional reads of whole chunks, SHA-256 over the bytes in order as they are
/// read, the hash of a resume prefix in slices, and a last check that the file did not change or vanish while it was
/// sent. Blocking I/O, a chunk at a time: used only by a sender, on the send dispatcher (the .NET thread
/// pool).</summary>
internal sealed class FileSource : ISendSource
{
    private readonly string _path;
    private readonly long _size;
    private readonly long _fingerprint;
    private readonly SafeFileHandle _handle;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[]? _known;
    private byte[]? _slice;
    private long _hashed;

    /// <param name="knownSha256">The content's SHA-256 when it is known already (a file the server keeps, checked
    /// against it): sent in Done without hashing the bytes again as they are read. The receiver hashes what it gets and
    /// compares, so a copy that changed since is caught there, and never counted delivered.</param>
    /// <exception cref="TransferException">The file cannot be opened.</exception>
    public FileSource(string path, long size, long fingerprint, byte[]? knownSha256 = null)
    {
        _known = knownSha256;
        _path = path;
        _size = size;
        _fingerprint = fingerprint;
        try
        {
            _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _hash.Dispose();
            throw new TransferException($"cannot open '{path}': {e.Message}", e);
        }
    }

    private string Name => Path.GetFileName(_path);

    public void Read(long offset, Span<byte> into)
    {
        if (offset != _hashed) throw new InvalidOperationException($"read at {offset} while the hash is at {_hashed}");
        if (ReadFully(offset, into) < into.Length) throw new TransferException($"'{Name}' changed while it was being sent (it became shorter)");
        if (_known is null) _hash.AppendData(into);
        _hashed += into.Length;
    }

    /// <summary>Hashes the next slice of the first <paramref name="length"/> bytes (from 0 the first time).
    /// True once all are hashed; <see cref="CurrentHash"/> then is their SHA-256.</summary>
    public bool HashPrefix(long length, int slice)
    {
        _slice ??= new byte[64 * 1024];
        var end = Math.Min(length, _hashed + slice);
        while (_hashed < end)
        {
            var want = (int)Math.Min(_slice.Length, end - _hashed);
            if (ReadFully(_hashed, _slice.AsSpan(0, want)) < want)
                throw new TransferException($"'{Name}' is shorter than the receiver's partial copy");
            _hash.AppendData(_slice.AsSpan(0, want));
            _hashed += want;
        }
        return _hashed >= length;
    }

    public byte[] CurrentHash => _hash.GetCurrentHash();

    /// <summary>The whole content's SHA-256 is known now (hashed before the offer): reads no longer hash.</summary>
    public void Know(byte[] sha256) => _known = sha256;

    /// <summary>The SHA-256 of <paramref name="nonce"/> followed by bytes [offset, offset + length): a proof that this
    /// file's content is here (the bytes past its end count as absent).</summary>
    public byte[] ProofOf(byte[] nonce, long offset, int length)
    {
        var data = new byte[nonce.Length + length];
        nonce.CopyTo(data, 0);
        var read = offset >= _size ? 0 : ReadFully(offset, data.AsSpan(nonce.Length, (int)Math.Min(length, _size - offset)));
        return SHA256.HashData(data.AsSpan(0, nonce.Length + read));
    }

    public void RestartHash()
    {
        _hash.GetHashAndReset();
        _hashed = 0;
    }

    /// <summary>All bytes are read: checks the file is still there and unchanged, returns the SHA-256 of the whole.</summary>
    public byte[] Finish()
    {
        try
        {
            var info = new FileInfo(_path);
            if (!info.Exists) throw new TransferException($"'{Name}' vanished while it was being sent");
            if (info.Length != _size || info.LastWriteTimeUtc.Ticks != _fingerprint) throw new TransferException($"'{Name}' changed while it was being sent");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot check '{_path}': {e.Message}", e);
        }
        return _known ?? _hash.GetHashAndReset();
    }

    private int ReadFully(long offset, Span<byte> buffer)
    {
        var total = 0;
        try
        {
            while (total < buffer.Length)
            {
                var n = RandomAccess.Read(_handle, buffer[total..], offset + total);
                if (n == 0) break;
                total += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot read '{_path}': {e.Message}", e);
        }
        return total;
    }

    public void Dispose()
    {
        _handle.Dispose();
        _hash.Dispose();
    }
}
