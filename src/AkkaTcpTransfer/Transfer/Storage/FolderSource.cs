using System.Security.Cryptography;
using AkkaTcpTransfer.Protocol;
using Microsoft.Win32.SafeHandles;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>One file of a folder sent as one transfer: where it is, its path inside the folder, size, last-write time.</summary>
internal sealed record FolderEntry(string Path, string Name, long Size, long Fingerprint);

/// <summary>The layout of a folder's stream (<see cref="FolderStream"/>): each entry's header and where it starts, the
/// stream's length and the offer's fingerprint. Immutable: built once by the node's transfers table, passed to the
/// sender.</summary>
internal sealed class FolderBundle
{
    public FolderBundle(string folder, IReadOnlyList<FolderEntry> entries)
    {
        Folder = folder;
        Entries = entries;
        Headers = [.. entries.Select(e => FolderStream.EncodeHeader(e.Name, e.Size, e.Fingerprint))];
        Starts = new long[entries.Count + 1];
        for (var i = 0; i < entries.Count; i++) Starts[i + 1] = Starts[i] + FolderStream.EntryLength(Headers[i].Length, entries[i].Size);
        Fingerprint = FolderStream.Fingerprint(Headers);
    }

    /// <summary>The folder's own name ("album"); it is offered as "album/".</summary>
    public string Folder { get; }

    public IReadOnlyList<FolderEntry> Entries { get; }

    public byte[][] Headers { get; }

    /// <summary>Where each entry starts; the last element is the stream's length.</summary>
    public long[] Starts { get; }

    public long Length => Starts[^1];

    public long Fingerprint { get; }
}

/// <summary>Reads a <see cref="FolderBundle"/> as the stream a folder transfer carries: each entry's header, the file's
/// bytes (one file open at a time), and the SHA-256 of those bytes, computed as they are read. A file that vanished,
/// shrank or changed while it was read fails the transfer with its name. Blocking I/O, a chunk at a time: used only by
/// a sender, on the send dispatcher.</summary>
internal sealed class FolderSource(FolderBundle bundle) : ISendSource
{
    private readonly IncrementalHash _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _content = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _trailer = new byte[FolderStream.TrailerBytes];
    private SafeFileHandle? _handle;
    private byte[]? _slice;
    private long _position;
    private int _index;
    private bool _unmatchable;

    public void Read(long offset, Span<byte> into)
    {
        if (offset != _position) throw new InvalidOperationException($"read at {offset} while the stream is at {_position}");
        var filled = 0;
        while (filled < into.Length) filled += Next(into[filled..]);
    }

    /// <summary>Copies the next bytes of the stream (at most one region: header, content or trailer) into <paramref name="into"/>.</summary>
    private int Next(Span<byte> into)
    {
        if (_index >= bundle.Entries.Count) throw new InvalidOperationException("read past the end of the folder stream");
        var entry = bundle.Entries[_index];
        var header = bundle.Headers[_index];
        var at = _position - bundle.Starts[_index];
        int n;
        if (at < header.Length)
        {
            n = (int)Math.Min(into.Length, header.Length - at);
            header.AsSpan((int)at, n).CopyTo(into);
            if (at + n == header.Length)
            {
                _digest.AppendData(header);
                Open(entry);
                if (entry.Size == 0) Close(entry);
            }
        }
        else if (at < header.Length + entry.Size)
        {
            var inFile = at - header.Length;
            var want = (int)Math.Min(into.Length, entry.Size - inFile);
            n = ReadSome(entry, into[..want], inFile);
            _content.AppendData(into[..n]);
            if (inFile + n == entry.Size) Close(entry);
        }
        else
        {
            var inTrailer = (int)(at - header.Length - entry.Size);
            n = Math.Min(into.Length, FolderStream.TrailerBytes - inTrailer);
            _trailer.AsSpan(inTrailer, n).CopyTo(into);
            if (inTrailer + n == FolderStream.TrailerBytes)
            {
                _digest.AppendData(_trailer);
                _index++;
            }
        }
        _position += n;
        return n;
    }

    /// <summary>The receiver's prefix is made of whole entries: the folder digest over the entries that end at
    /// <paramref name="length"/>, hashing the files again (about <paramref name="slice"/> bytes per call). A length that
    /// is not an entry boundary can never match (streaming then starts over).</summary>
    public bool HashPrefix(long length, int slice)
    {
        if (Array.BinarySearch(bundle.Starts, length) < 0)
        {
            _unmatchable = true;
            return true;
        }
        _slice ??= new byte[64 * 1024];
        long budget = slice;
        while (_position < length && budget > 0)
        {
            var entry = bundle.Entries[_index];
            _digest.AppendData(bundle.Headers[_index]);
            Open(entry);
            for (long done = 0; done < entry.Size;)
            {
                var n = ReadSome(entry, _slice.AsSpan(0, (int)Math.Min(_slice.Length, entry.Size - done)), done);
                _content.AppendData(_slice.AsSpan(0, n));
                done += n;
            }
            Close(entry);
            _digest.AppendData(_trailer);
            budget -= entry.Size + 1;
            _index++;
            _position = bundle.Starts[_index];
        }
        return _position >= length;
    }

    public byte[] CurrentHash => _unmatchable ? new byte[FolderStream.TrailerBytes] : _digest.GetCurrentHash();

    public void RestartHash()
    {
        _digest.GetHashAndReset();
        _content.GetHashAndReset();
        _handle?.Dispose();
        _handle = null;
        _position = 0;
        _index = 0;
        _unmatchable = false;
    }

    public byte[] Finish()
    {
        if (_position != bundle.Length) throw new InvalidOperationException($"finished at {_position} of {bundle.Length}");
        return _digest.GetHashAndReset();
    }

    private void Open(FolderEntry entry)
    {
        try
        {
            _handle = File.OpenHandle(entry.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot open '{entry.Name}' of '{bundle.Folder}': {e.Message}", e);
        }
    }

    private int ReadSome(FolderEntry entry, Span<byte> into, long offset)
    {
        int n;
        try
        {
            n = RandomAccess.Read(_handle!, into, offset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot read '{entry.Name}' of '{bundle.Folder}': {e.Message}", e);
        }
        if (n == 0) throw new TransferException($"'{entry.Name}' of '{bundle.Folder}' changed while it was being sent (it became shorter)");
        return n;
    }

    /// <summary>The entry's content is read: it must be the file that was listed (size and time), then its hash is the trailer.</summary>
    private void Close(FolderEntry entry)
    {
        _handle?.Dispose();
        _handle = null;
        try
        {
            var info = new FileInfo(entry.Path);
            if (!info.Exists) throw new TransferException($"'{entry.Name}' of '{bundle.Folder}' vanished while it was being sent");
            if (info.Length != entry.Size || info.LastWriteTimeUtc.Ticks != entry.Fingerprint)
                throw new TransferException($"'{entry.Name}' of '{bundle.Folder}' changed while it was being sent");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot check '{entry.Name}' of '{bundle.Folder}': {e.Message}", e);
        }
        _content.GetHashAndReset(_trailer);
    }

    public void Dispose()
    {
        _handle?.Dispose();
        _digest.Dispose();
        _content.Dispose();
    }
}
