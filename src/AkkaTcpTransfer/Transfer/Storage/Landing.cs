namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>What an incoming file or folder lands in (<see cref="PartialFile"/> for a file, <see cref="FolderSink"/>
/// for a folder sent as one transfer): bytes go to partial files in the partials folder and move to their final
/// names only once verified.</summary>
internal interface IReceiveSink : IDisposable
{
    /// <summary>Bytes of the stream taken so far (a resume proposes this offset).</summary>
    long Length { get; }

    /// <summary>Opens or creates the partial; true when ready at <see cref="Length"/>, false when it must first be
    /// re-hashed with <see cref="Rehash"/>.</summary>
    bool Open(long expectedSize, ParkedPartial? parked);

    bool Rehash(int slice);

    /// <summary>The hash of the first <see cref="Length"/> bytes, as a resume's prefix is compared.</summary>
    byte[] CurrentHash { get; }

    void Restart();

    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Everything arrived: settle it on disk (when <paramref name="sync"/>) and return the hash Done is compared with.</summary>
    byte[] Complete(bool sync);

    /// <summary>Moves what arrived to its final name(s) under <paramref name="downloads"/>; returns where it landed.</summary>
    string Place(string downloads, IReadOnlyList<string> parts);

    ParkedPartial Suspend();

    void Discard();
}

/// <summary>Moves verified files into the downloads folder: never replacing anything (a clash gets "name (1).ext"),
/// never following a symbolic link out of the folder.</summary>
internal static class Landing
{
    /// <summary>Moves <paramref name="source"/> to <paramref name="parts"/> under <paramref name="downloads"/>, creating
    /// the folders on the way. <paramref name="checkedFolders"/> remembers folders already checked (a folder of many
    /// files checks each of its folders once). When a name tried is taken and <paramref name="sameAsTaken"/> says what
    /// is there is the same file ("b.bin", or an earlier copy "b (1).bin"), nothing moves and the answer is null.</summary>
    public static string? Place(string source, string downloads, IReadOnlyList<string> parts, HashSet<string>? checkedFolders = null,
        Func<string, bool>? sameAsTaken = null)
    {
        try
        {
            EnsureFolders(downloads, parts.Count - 1, parts, checkedFolders);
            var name = parts[^1];
            for (var n = 0; n < 10_000; n++)
            {
                var candidateName = n == 0 ? name : SafeNames.Numbered(name, n);
                var candidate = SafeNames.Combine(downloads, [.. parts.SkipLast(1), candidateName]);
                // Never overwrites, whatever is there (a file, a folder, a link): fails if the name exists, also when
                // another program took it a moment ago.
                if (NoReplaceMove.TryMove(source, candidate)) return candidate;
                if (sameAsTaken?.Invoke(candidate) == true) return null;
            }
            throw new TransferException($"no free name for '{name}'");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new TransferException($"cannot put the file in place: {e.Message}", e);
        }
    }

    /// <summary>Creates the first <paramref name="count"/> parts as folders under <paramref name="downloads"/>, refusing a
    /// symbolic link or a file in the way. Returns the last folder.</summary>
    public static string EnsureFolders(string downloads, int count, IReadOnlyList<string> parts, HashSet<string>? checkedFolders = null)
    {
        var directory = Path.GetFullPath(downloads);
        if (checkedFolders?.Add(directory) != false) Directory.CreateDirectory(directory);
        for (var i = 0; i < count; i++)
        {
            directory = Path.Combine(directory, parts[i]);
            if (checkedFolders?.Contains(directory) == true) continue;
            if (new DirectoryInfo(directory).LinkTarget is not null)
                throw new TransferException($"'{string.Join('/', parts.Take(i + 1))}' in the downloads folder is a symbolic link; not writing through it");
            if (File.Exists(directory))
                throw new TransferException($"a file named '{string.Join('/', parts.Take(i + 1))}' is in the way of the folder");
            Directory.CreateDirectory(directory);
            checkedFolders?.Add(directory);
        }
        return directory;
    }
}
