using Akka.Actor;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Turns a path to send into the list of files to offer, on the file-io dispatcher (a folder walk can take
/// a while and must not hold up any other actor). Answers its parent once, then stops.</summary>
internal sealed class PathScannerActor : ReceiveActor
{
    public sealed record OutgoingFile(string Path, string File, long Size, long Fingerprint);

    public sealed record Scanned(string To, string Path, IReadOnlyList<OutgoingFile> Files);

    public sealed record ScanFailed(string Reason);

    public static Props Props(string to, string path, string dispatcher) =>
        Akka.Actor.Props.Create(() => new PathScannerActor(to, path)).WithDispatcher(dispatcher);

    public PathScannerActor(string to, string path)
    {
        ReceiveAny(_ => { });
        try
        {
            Context.Parent.Tell(new Scanned(to, path, Scan(path)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or InvalidOperationException)
        {
            Context.Parent.Tell(new ScanFailed($"cannot send '{path}': {e.Message}"));
        }
        Context.Stop(Self);
    }

    /// <summary>A file is offered under its name; a folder's files under "folder/relative/path" (symbolic links are
    /// not followed, so a link loop cannot make the walk endless).</summary>
    public static List<OutgoingFile> Scan(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (File.Exists(full))
        {
            var info = new FileInfo(full);
            return [new OutgoingFile(full, info.Name, info.Length, info.LastWriteTimeUtc.Ticks)];
        }
        if (!Directory.Exists(full)) throw new InvalidOperationException("no such file or folder");
        var root = new DirectoryInfo(full);
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
            IgnoreInaccessible = false,
            ReturnSpecialDirectories = false,
        };
        var files = root.EnumerateFiles("*", options)
            .Select(f => new OutgoingFile(f.FullName,
                $"{root.Name}/{Path.GetRelativePath(full, f.FullName).Replace(Path.DirectorySeparatorChar, '/')}",
                f.Length, f.LastWriteTimeUtc.Ticks))
            .OrderBy(f => f.File, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0) throw new InvalidOperationException("the folder has no files to send");
        return files;
    }
}
