using System.Text;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>Decides whether an offered file name may land in a downloads folder, and where. The sender proposes a
/// relative path with '/' separators; the receiver accepts it only if every part is a plain name. Everything that
/// could reach outside the folder or confuse a file system is refused, not "repaired": absolute paths, drive
/// letters, "..", ".", backslashes, control characters, empty parts, names that are only dots and spaces,
/// Windows device names, and our own partial-files folder.</summary>
internal static class SafeNames
{
    /// <summary>Folder inside downloads where partial files live until verified; a transfer may not write there.</summary>
    public const string PartialsFolder = ".akka-tcp-transfer";

    private const int MaxComponentBytes = 255;
    private const int MaxDepth = 64;

    private static readonly HashSet<string> DeviceNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
        // Windows' list: 0 to 9 and the superscript digits ¹ ² ³ (U+00B9, U+00B2, U+00B3).
        "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM\u00b9", "COM\u00b2", "COM\u00b3",
        "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT\u00b9", "LPT\u00b2", "LPT\u00b3",
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
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
                return Refuse(out reason, $"the file name contains a control character (U+{(int)c:X4})");
            if (IsInvisibleOrBidi(c))
                return Refuse(out reason, $"the file name contains an invisible or text-direction character (U+{(int)c:X4}), which can disguise it");
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

    /// <summary>Format characters that make a name look like something else: bidirectional embeddings, overrides,
    /// isolates and marks ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf"), zero-width spaces and joiners' misuse
    /// (U+200B, U+2060, U+FEFF), the Arabic letter mark, the Mongolian vowel separator, soft hyphens. The zero-width
    /// (non-)joiners U+200C and U+200D are allowed: scripts such as Persian and emoji sequences need them.</summary>
    public static bool IsInvisibleOrBidi(char c) =>
        c is '\u061C' or '\u00AD' or '\u180E' or '\u200B' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E')
            or (>= '\u2060' and <= '\u2064') or (>= '\u2066' and <= '\u2069') or '\uFEFF'
        || (System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format && c is not ('\u200C' or '\u200D'));

    /// <summary>Most UTF-8 bytes of a full path this node creates (Linux's PATH_MAX is 4,096 including the terminator;
    /// room is kept for a " (n)" that avoids a clash).</summary>
    public const int MaxPathBytes = 4000;

    /// <summary>Null when the file can be created under <paramref name="downloads"/>, else why not: checked at the
    /// offer, so that a name the file system cannot hold is refused before a byte is sent, not after the upload.</summary>
    public static string? FitsFileSystem(string downloads, IReadOnlyList<string> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var full = Path.Combine([Path.GetFullPath(downloads), .. parts]);
        var bytes = Encoding.UTF8.GetByteCount(full);
        return bytes > MaxPathBytes
            ? $"the path would be {bytes} bytes long here, more than the {MaxPathBytes} this file system allows"
            : null;
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

    /// <summary>"report.pdf" -> "report (n).pdf"; "README" -> "README (n)"; ".bashrc" -> ".bashrc (n)". The stem is
    /// shortened if the result would be longer than a file name may be (255 UTF-8 bytes).</summary>
    public static string Numbered(string fileName, int n)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var dot = fileName.LastIndexOf('.');
        var (stem, extension) = dot <= 0 ? (fileName, "") : (fileName[..dot], fileName[dot..]);
        var suffix = $" ({n}){extension}";
        var room = MaxComponentBytes - Encoding.UTF8.GetByteCount(suffix);
        while (stem.Length > 0 && Encoding.UTF8.GetByteCount(stem) > room)
            stem = stem[..^(char.IsLowSurrogate(stem[^1]) && stem.Length > 1 ? 2 : 1)];
        return stem + suffix;
    }
}
