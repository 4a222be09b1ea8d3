using System.Text;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Decides whether an offered file name may land in a downloads folder, and where. The sender proposes a
/// relative path with '/' separators; the receiver accepts it only if every part is a plain name. Everything that
/// could reach outside the folder or confuse a file system is refused, not "repaired": absolute paths, drive
/// letters, "..", ".", backslashes, control characters, empty parts, names that are only dots and spaces,
/// Windows device names, and our own partial-files folder.</summary>
public static class SafeNames
{
    /// <summary>Folder inside downloads where partial files live until verified; a transfer may not write there.</summary>
    public const string PartialsFolder = ".akka-tcp-transfer";

    private const int MaxComponentBytes = 255;
    private const int MaxDepth = 64;

    private static readonly HashSet<string> DeviceNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
        "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    };

    /// <summary>The path's parts when <paramref name="offered"/> is acceptable, else null and the reason.</summary>
    public static string[]? Validate(string offered, out string reason)
    {
        ArgumentNullException.ThrowIfNull(offered);
        reason = "";
        if (offered.Length == 0) return Refuse(out reason, "the file name is empty");
        if (offered.Contains('\\', StringComparison.Ordinal)) return Refuse(out reason, "the file name contains a backslash");
        if (offered.StartsWith('/')) return Refuse(out reason, "the file name is an absolute path");
        if (offered.Length >= 2 && char.IsAsciiLetter(offered[0]) && offered[1] == ':')
            return Refuse(out reason, "the file name starts with a drive letter");
        foreach (var c in offered)
        {
            if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u202E' or '\u202D')
                return Refuse(out reason, $"the file name contains a control character (U+{(int)c:X4})");
            if (c == ':') return Refuse(out reason, "the file name contains ':'");
        }
        var parts = offered.Split('/');
        if (parts.Length > MaxDepth) return Refuse(out reason, $"the path is deeper than {MaxDepth} folders");
        foreach (var part in parts)
        {
            if (part.Length == 0) return Refuse(out reason, "the file name has an empty path part");
            if (part is "." or "..") return Refuse(out reason, $"the file name contains '{part}'");
            if (part.Trim(' ', '.').Length == 0) return Refuse(out reason, $"'{part}' is not a usable name");
            if (part.EndsWith(' ') || part.EndsWith('.')) return Refuse(out reason, $"'{part}' ends with a space or a dot");
            if (DeviceNames.Contains(part.Split('.')[0])) return Refuse(out reason, $"'{part}' is a reserved device name");
            if (Encoding.UTF8.GetByteCount(part) > MaxComponentBytes) return Refuse(out reason, "a path part is longer than 255 bytes");
        }
        if (string.Equals(parts[0], PartialsFolder, StringComparison.OrdinalIgnoreCase))
            return Refuse(out reason, $"'{PartialsFolder}' is reserved for partial files");
        return parts;
    }

    private static string[]? Refuse(out string reason, string why)
    {
        reason = why;
        return null;
    }

    /// <summary>The absolute path for <paramref name="parts"/> under <paramref name="downloads"/>, checked once more
    /// to be strictly inside it.</summary>
    public static string Combine(string downloads, IReadOnlyList<string> parts)
    {
        var root = Path.GetFullPath(downloads);
        var full = Path.GetFullPath(Path.Combine([root, .. parts]));
        var prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
            throw new InvalidOperationException($"'{string.Join('/', parts)}' resolves outside the downloads folder");
        return full;
    }

    /// <summary>"report.pdf" -> "report (n).pdf"; "README" -> "README (n)"; ".bashrc" -> ".bashrc (n)".</summary>
    public static string Numbered(string fileName, int n)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var dot = fileName.LastIndexOf('.');
        if (dot <= 0) return $"{fileName} ({n})";
        return $"{fileName[..dot]} ({n}){fileName[dot..]}";
    }
}
