namespace AkkaTcpTransfer.Security;

/// <summary>The servers a client has pinned, like SSH's known_hosts: one line per server, <c>host:port fingerprint</c>,
/// in the file <c>known_servers</c> of the client's state folder. Lines starting with # are comments. A pin is only
/// ever added, never replaced: when a server's key changes, a person removes its line.</summary>
internal sealed class KnownServers(string file)
{
    public const string FileName = "known_servers";

    private const string Header = "# akka-tcp-transfer known servers: host:port, then the SHA-256 of the server's public key (64 hex digits).\n" +
                                  "# Remove a server's line when you know its key changed; the client never replaces one by itself.\n";

    public string File { get; } = file;

    /// <summary>How a server is named here: host and port, an IPv6 address in brackets.</summary>
    public static string Key(string host, int port) =>
        host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]:{port}" : $"{host}:{port}";

    /// <summary>The fingerprint pinned for <paramref name="server"/> (a <see cref="Key"/>), or null when none is.</summary>
    /// <exception cref="KnownServersException">The file exists but cannot be read, or the server's line does not hold a
    /// valid fingerprint. Trust fails closed: a pin we cannot read might be the one that would refuse an impostor, so
    /// the server is neither accepted on first use nor pinned anew.</exception>
    public string? Find(string server)
    {
        foreach (var (name, fingerprint) in Read())
        {
            if (!string.Equals(name, server, StringComparison.OrdinalIgnoreCase)) continue;
            return Fingerprint.Parse(fingerprint)
                   ?? throw new KnownServersException($"{File} has a line for {server} that is not a fingerprint (64 hex digits): \"{fingerprint}\". Correct or delete that line");
        }
        return null;
    }

    /// <summary>Pins <paramref name="fingerprint"/> for <paramref name="server"/> unless it has a pin already (which
    /// stays as it is). False if the file cannot be written.</summary>
    public bool Add(string server, string fingerprint)
    {
        try
        {
            if (Find(server) is not null) return true;
            var folder = Path.GetDirectoryName(File)!;
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
            else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using var stream = new FileStream(File, options);
            using var writer = new StreamWriter(stream);
            if (stream.Length == 0) writer.Write(Header);
            writer.Write($"{server} {fingerprint}\n");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or KnownServersException)
        {
            return false;
        }
    }

    private IEnumerable<(string Server, string Fingerprint)> Read()
    {
        string[] lines;
        try
        {
            if (!Path.Exists(File)) yield break; // a folder in its place is there but unreadable: an error below
            lines = System.IO.File.ReadAllLines(File);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KnownServersException($"cannot read {File}: {e.Message}");
        }
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.IndexOfAny([' ', '\t']);
            if (space <= 0) continue;
            yield return (line[..space], line[(space + 1)..].Trim());
        }
    }
}

/// <summary>known_servers cannot be trusted to answer: unreadable, or a broken line for the server asked about.</summary>
internal sealed class KnownServersException(string message) : Exception(message);
