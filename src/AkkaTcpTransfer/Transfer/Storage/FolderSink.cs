using System.Runtime.InteropServices;
using System.Security.Cryptography;
using AkkaTcpTransfer.Protocol;
using Microsoft.Win32.SafeHandles;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>A folder sent as one transfer (<see cref="FolderStream"/>), on its way. Each entry's content goes to a
/// partial file of its own in a folder beside the journal (<c>KEY.part.d/N</c> in the partials folder) and is hashed as it is
/// written; at its trailing SHA-256 the entry is checked and its header and hash are appended to the journal
/// (<c>KEY.part</c>). The journal's bytes are exactly what the folder digest covers, so a resume re-reads the journal,
/// not the files, and proposes the end of the last whole entry. Durability is settled once per folder: at the end one
/// sync of the file system, then every file moves to its final name inside the folder (a file already there with the
/// same size and SHA-256 is kept and the copy dropped; a different one gets "name (1).ext" beside it), then one more
/// sync for the names. Nothing ever stands under a final name before it is verified and on disk.
/// Blocking I/O: file-io dispatcher only. Every failure is a <see cref="TransferException"/>.</summary>
/// <param name="folder">The folder's name as offered, without the '/' ("album", or "a/b" for "a/b/").</param>
internal sealed class FolderSink(string journal, int maxFiles, string downloads, string folder) : IReceiveSink
{
    private enum Phase { Header, Content, Trailer }

    private sealed record Arrived(string[] Parts, long Size, byte[] Sha256);

    private readonly List<Arrived> _arrived = [];
    private readonly HashSet<string> _paths = new(StringComparer.Ordinal);
    private readonly HashSet<string> _folders = new(StringComparer.Ordinal);
    private byte[] _replay = [];
    private int _replayAt;
    /// <summary>Journal records of entries completed by the current write, not yet in the journal.</summary>
    private readonly System.Buffers.ArrayBufferWriter<byte> _pending = new(4096);
    private readonly byte[] _header = new byte[FolderStream.MaxHeaderBytes];
    private readonly byte[] _trailer = new byte[FolderStream.TrailerBytes];
    private IncrementalHash _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _content = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private SafeFileHandle? _journal;
    private SafeFileHandle? _file;
    private long _journalLength;
    private long _expectedSize;
    private Phase _phase;
    private int _headerFill;
    private int _headerNeed;
    private int _trailerFill;
    private string[] _parts = [];
    private string _name = "";
    private long _size;
    private long _contentWritten;
    private bool _sync;

    /// <summary>Bytes of the stream taken so far.</summary>
    public long Length { get; private set; }

    /// <summary>Files left as they were because an identical one (size and SHA-256) was already there.</summary>
    public int Identical { get; private set; }

    public int Files => _arrived.Count;

    /// <summary>A folder of its own for the files' partials, made for this transfer: the file system then places their
    /// inodes near a fresh folder, as it does for a folder that tar creates, not in the crowded part of the disk where a
    /// long-lived partials folder sits (on ext4, creating files there slowed to a fifth once its group had filled).</summary>
    private string ContentFolder => journal + ".d";

    private string ContentPath(int index) => Path.Combine(ContentFolder, index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public bool Open(long expectedSize, ParkedPartial? parked)
    {
        parked?.Hash.Dispose(); // the journal is the state: re-reading it is cheap and always right
        _expectedSize = expectedSize;
        byte[] existing;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(journal)!);
            _journal = File.OpenHandle(journal, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            Directory.CreateDirectory(ContentFolder);
            var length = RandomAccess.GetLength(_journal);
            existing = length <= (long)maxFiles * (FolderStream.MaxHeaderBytes + FolderStream.TrailerBytes) ? new byte[length] : [];
            if (existing.Length > 0 && RandomAccess.Read(_journal, existing, 0) != existing.Length) existing = [];
        }
        catch (IOException e) when (PartialFile.IsLocked(e))
        {
            throw new TransferException("the partial folder is in use by another process", e) { InUseElsewhere = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot write in the downloads folder: {e.Message}", e);
        }
        _replay = existing;
        _replayAt = 0;
        return existing.Length == 0 || Rehash(0);
    }

    /// <summary>Takes the next records of the journal read at <see cref="Open"/>, each only if its staged file is still
    /// there with exactly the bytes its SHA-256 says (a crash may keep a journal record whose file's bytes never reached
    /// the disk), about <paramref name="slice"/> bytes of files re-read per call. At the first record that fails, the
    /// journal is cut there and the transfer resumes from that file. True once done.</summary>
    public bool Rehash(int slice)
    {
        long budget = slice;
        var done = false;
        while (!done && budget >= 0)
        {
            done = !ReplayOne(ref budget);
        }
        if (!done) return false;
        // The rest of the journal (if any) is not to be trusted.
        PartialFile.Guard(() => RandomAccess.SetLength(_journal!, _replayAt));
        _journalLength = _replayAt;
        _replay = [];
        return true;
    }

    /// <summary>One record of the journal; false when there is none left or it fails its checks.</summary>
    private bool ReplayOne(ref long budget)
    {
        var records = _replay;
        var at = _replayAt;
        if (at + 2 > records.Length) return false;
        try
        {
            var headerLength = FolderStream.HeaderLength(records.AsSpan(at, 2));
            if (at + headerLength + FolderStream.TrailerBytes > records.Length) return false;
            var (name, size, _) = FolderStream.DecodeHeader(records.AsSpan(at, headerLength));
            var parts = Check(name, size, Length + headerLength);
            var content = new FileInfo(ContentPath(_arrived.Count));
            if (!content.Exists || content.Length != size) return false;
            var sha = records.AsSpan(at + headerLength, FolderStream.TrailerBytes).ToArray();
            using (var stream = new FileStream(content.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.SequentialScan))
            {
                if (!SHA256.HashData(stream).AsSpan().SequenceEqual(sha)) return false;
            }
            _digest.AppendData(records.AsSpan(at, headerLength + FolderStream.TrailerBytes));
            Arrive(parts, size, sha);
            Length += FolderStream.EntryLength(headerLength, size);
            _replayAt += headerLength + FolderStream.TrailerBytes;
            budget -= size + 1;
            return true;
        }
        catch (Exception e) when (e is FolderStreamException or TransferException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>An entry's path checked as an offered file's whole path would be ("album/sub/b.bin"), against the other
    /// entries (no path twice; none both a file and a folder), the file limit and the offer's size. Returns its parts
    /// inside the folder.</summary>
    private string[] Check(string name, long size, long afterHeader)
    {
        var whole = $"{folder}/{name}";
        if (SafeNames.Validate(whole, out var reason) is not { } wholeParts)
            throw new TransferException($"unsafe file name in the folder ('{name}'): {reason}");
        if (SafeNames.FitsFileSystem(downloads, wholeParts) is { } tooLong) throw new TransferException($"'{name}' in the folder: {tooLong}");
        if (_arrived.Count >= maxFiles) throw new TransferException($"the folder has more than {maxFiles} files, more than this node takes in one transfer");
        if (afterHeader + size + FolderStream.TrailerBytes > _expectedSize)
            throw new TransferException($"protocol violation: '{name}' ({size} bytes) does not fit in the folder's offered size");
        if (_paths.Contains(name) || _folders.Contains(name)) throw new TransferException($"protocol violation: the folder lists '{name}' twice, or as a file and as a folder");
        var parts = name.Split('/');
        for (var i = 1; i < parts.Length; i++)
        {
            var above = string.Join('/', parts.Take(i));
            if (_paths.Contains(above)) throw new TransferException($"protocol violation: the folder lists '{above}' both as a file and as a folder");
        }
        return parts;
    }

    private void Arrive(string[] parts, long size, byte[] sha)
    {
        _paths.Add(string.Join('/', parts));
        for (var i = 1; i < parts.Length; i++) _folders.Add(string.Join('/', parts.Take(i)));
        _arrived.Add(new Arrived(parts, size, sha));
    }


    public byte[] CurrentHash => _digest.GetCurrentHash();

    public void Restart()
    {
        DeleteContent();
        _arrived.Clear();
        _paths.Clear();
        _folders.Clear();
        _pending.ResetWrittenCount();
        PartialFile.Guard(() => RandomAccess.SetLength(_journal!, 0));
        _journalLength = 0;
        _digest.Dispose();
        _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        _content.GetHashAndReset();
        Length = 0;
        _phase = Phase.Header;
        _headerFill = _trailerFill = 0;
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (offset != Length) throw new InvalidOperationException($"write at {offset} but {Length} bytes taken");
        while (!data.IsEmpty)
        {
            var n = _phase switch
            {
                Phase.Header => TakeHeader(data),
                Phase.Content => TakeContent(data),
                _ => TakeTrailer(data),
            };
            data = data[n..];
            Length += n;
        }
        FlushJournal();
    }

    private void FlushJournal()
    {
        if (_pending.WrittenCount == 0) return;
        PartialFile.Guard(() => RandomAccess.Write(_journal!, _pending.WrittenSpan, _journalLength));
        _journalLength += _pending.WrittenCount;
        _pending.ResetWrittenCount();
    }

    private int TakeHeader(ReadOnlySpan<byte> data)
    {
        var need = _headerFill < 2 ? 2 : _headerNeed;
        var n = Math.Min(data.Length, need - _headerFill);
        data[..n].CopyTo(_header.AsSpan(_headerFill));
        _headerFill += n;
        if (_headerFill == 2) _headerNeed = Stream(() => FolderStream.HeaderLength(_header.AsSpan(0, 2)));
        if (_headerFill < 2 || _headerFill < _headerNeed) return n;
        var (name, size, _) = Stream(() => FolderStream.DecodeHeader(_header.AsSpan(0, _headerNeed)));
        _parts = Check(name, size, Length + n);
        _name = name;
        _size = size;
        _contentWritten = 0;
        PartialFile.Guard(() => _file = CreateContent(ContentPath(_arrived.Count)));
        _phase = size == 0 ? Phase.Trailer : Phase.Content;
        if (size == 0) CloseContent();
        return n;
    }

    /// <summary>A new file, never one truncated: ext4 flushes a file that was truncated to nothing when it is closed
    /// (its guard for programs that rewrite files in place), which cost a disk write per file here. A leftover of an
    /// interrupted entry is removed first.</summary>
    private static SafeFileHandle CreateContent(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(path);
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }
        catch (DirectoryNotFoundException)
        {
            // the hourly sweep took the staging folder for an abandoned one a moment before it was used again
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }
    }

    private int TakeContent(ReadOnlySpan<byte> data)
    {
        var n = (int)Math.Min(data.Length, _size - _contentWritten);
        try
        {
            RandomAccess.Write(_file!, data[..n], _contentWritten);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw PartialFile.Problem(e);
        }
        _content.AppendData(data[..n]);
        _contentWritten += n;
        if (_contentWritten == _size)
        {
            CloseContent();
            _phase = Phase.Trailer;
        }
        return n;
    }

    private int TakeTrailer(ReadOnlySpan<byte> data)
    {
        var n = Math.Min(data.Length, FolderStream.TrailerBytes - _trailerFill);
        data[..n].CopyTo(_trailer.AsSpan(_trailerFill));
        _trailerFill += n;
        if (_trailerFill < FolderStream.TrailerBytes) return n;
        var sha = _content.GetHashAndReset();
        if (!sha.AsSpan().SequenceEqual(_trailer))
            throw new TransferException($"SHA-256 mismatch for '{_name}': received {Convert.ToHexStringLower(sha)}, sender has {Convert.ToHexStringLower(_trailer)}");
        // The entry is whole and verified: on record (the journal is the resume point and the folder digest's input),
        // written with the other entries this write completed (one journal write per chunk, not per file).
        var record = _pending.GetSpan(_headerNeed + FolderStream.TrailerBytes)[..(_headerNeed + FolderStream.TrailerBytes)];
        _header.AsSpan(0, _headerNeed).CopyTo(record);
        sha.CopyTo(record[_headerNeed..]);
        _digest.AppendData(record);
        _pending.Advance(record.Length);
        Arrive(_parts, _size, sha);
        _phase = Phase.Header;
        _headerFill = _trailerFill = 0;
        return n;
    }

    private void CloseContent()
    {
        _file?.Dispose();
        _file = null;
    }

    public byte[] Complete(bool sync)
    {
        if (_phase != Phase.Header || _headerFill != 0) throw new TransferException("protocol violation: the folder's stream ended inside an entry");
        _sync = sync;
        if (sync) SyncAll();
        return _digest.GetHashAndReset();
    }

    /// <summary>Moves every file to its final name inside the folder <paramref name="parts"/> (merged with what is
    /// already there), in stream order; drops the journal. Returns the folder. Every folder on the way is made (or
    /// found in the way: a file, a symbolic link) before the first file moves, so a clash fails the transfer with
    /// nothing placed; only an I/O error in the middle of the moves leaves the files moved so far.</summary>
    public string Place(string downloads, IReadOnlyList<string> parts)
    {
        var folders = new HashSet<string>(StringComparer.Ordinal);
        string folder;
        try
        {
            folder = Landing.EnsureFolders(downloads, parts.Count, parts, folders);
            foreach (var arrived in _arrived)
            {
                if (arrived.Parts.Length > 1) Landing.EnsureFolders(downloads, parts.Count + arrived.Parts.Length - 1, [.. parts, .. arrived.Parts], folders);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransferException($"cannot make the folder: {e.Message}", e);
        }
        for (var i = 0; i < _arrived.Count; i++)
        {
            var arrived = _arrived[i];
            string[] full = [.. parts, .. arrived.Parts];
            if (Landing.Place(ContentPath(i), downloads, full, folders, taken => IsAlreadyThere(taken, arrived)) is null)
            {
                Identical++;
                TryDelete(ContentPath(i));
            }
        }
        if (_sync) SyncAll();
        CloseJournal();
        TryDelete(journal);
        TryDeleteFolder(ContentFolder);
        return folder;
    }

    /// <summary>The same bytes are already under that name (size, then SHA-256): a folder sent again does not scatter copies.</summary>
    private static bool IsAlreadyThere(string path, Arrived arrived)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.LinkTarget is not null || info.Length != arrived.Size) return false;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 64 * 1024, FileOptions.SequentialScan);
            return SHA256.HashData(stream).AsSpan().SequenceEqual(arrived.Sha256);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public ParkedPartial Suspend()
    {
        CloseContent();
        try
        {
            if (_journal is not null) RandomAccess.FlushToDisk(_journal);
        }
        catch (IOException)
        {
            // the journal is only a hint: a resume checks every record against its file
        }
        CloseJournal();
        var digest = _digest;
        _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        return new ParkedPartial(Length, digest, File.GetLastWriteTimeUtc(journal));
    }

    public void Discard()
    {
        CloseContent();
        CloseJournal();
        DeleteContent();
        TryDelete(journal);
        TryDeleteFolder(ContentFolder);
    }

    /// <summary>Content files of every entry on record and of the one in progress.</summary>
    private void DeleteContent()
    {
        CloseContent();
        for (var i = 0; i <= _arrived.Count; i++) TryDelete(ContentPath(i));
    }

    private void CloseJournal()
    {
        _journal?.Dispose();
        _journal = null;
    }

    /// <summary>One sync for the whole folder: syncfs(2) on Linux (every file written, and the journal, in one call);
    /// elsewhere each file is flushed.</summary>
    private void SyncAll()
    {
        if (OperatingSystem.IsLinux() && _journal is not null)
        {
            if (SyncFs((int)_journal.DangerousGetHandle()) != 0)
                throw new TransferException($"cannot flush the folder to disk (errno {Marshal.GetLastPInvokeError()})");
            return;
        }
        for (var i = 0; i < _arrived.Count; i++)
        {
            var path = ContentPath(i);
            if (!File.Exists(path)) continue;
            PartialFile.Guard(() =>
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
                RandomAccess.FlushToDisk(handle);
            });
        }
    }

    [DllImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static extern int SyncFs(int fd);

    private static T Stream<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (FolderStreamException e)
        {
            throw new TransferException($"protocol violation: {e.Message}", e);
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
            // the partials folder is swept of what stays behind
        }
    }

    private static void TryDeleteFolder(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the partials folder is swept of what stays behind
        }
    }

    public void Dispose()
    {
        CloseContent();
        CloseJournal();
        _digest.Dispose();
        _content.Dispose();
    }
}
