namespace AkkaTcpTransfer.Security;

/// <summary>Files only their owner may read (private keys): written whole or not at all, and narrowed when found loose.</summary>
internal static class PrivateFiles
{
    /// <summary>A key file others can read (copied in with a loose mode, say) is narrowed to its owner.</summary>
    public static void Narrow(string keyFile)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(keyFile)) return;
        try
        {
            const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                                        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            var mode = File.GetUnixFileMode(keyFile);
            if ((mode & others) != 0) File.SetUnixFileMode(keyFile, mode & ~others);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not ours to change (another owner): reading it below says whether it is usable.
        }
    }

    /// <summary>Written beside its final name, readable by the owner only, then moved into place (never half a key).</summary>
    public static void Write(string file, string text)
    {
        var folder = Path.GetDirectoryName(file)!;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
        else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var temp = $"{file}.{Environment.ProcessId}.tmp";
        // A stale temp file would keep its old mode: start from none.
        File.Delete(temp);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, file, overwrite: false);
    }
}
