using System.Text;

namespace AkkaTcpTransfer.Protocol;

/// <summary>Cutting text to a UTF-8 byte budget without splitting a character.</summary>
public static class WireText
{
    private const string Ellipsis = "…"; // 3 UTF-8 bytes

    /// <summary><paramref name="text"/> itself when it fits <paramref name="maxBytes"/> UTF-8 bytes; else its longest
    /// prefix of whole characters that fits together with a trailing "…".</summary>
    public static string Cap(string text, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 4);
        // Fast path: every char is at most 3 UTF-8 bytes (a surrogate pair is 4 bytes for 2 chars).
        if (text.Length * 3 <= maxBytes || Encoding.UTF8.GetByteCount(text) <= maxBytes) return text;
        var budget = maxBytes - 3;
        var used = 0;
        var end = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (used + rune.Utf8SequenceLength > budget) break;
            used += rune.Utf8SequenceLength;
            end += rune.Utf16SequenceLength;
        }
        return string.Concat(text.AsSpan(0, end), Ellipsis);
    }
}
