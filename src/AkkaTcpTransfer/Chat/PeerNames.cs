using System.Globalization;
using System.Text;

namespace AkkaTcpTransfer.Chat;

/// <summary>What a peer name may be: 1 to 32 characters, no whitespace, no control or format characters, no
/// quotes or slashes (names are typed in commands such as <c>/msg NAME</c>). Unicode letters are welcome.
/// Names compare case-insensitively, so "Bob" and "bob" cannot both be online.</summary>
public static class PeerNames
{
    public const int MaxLength = 32;

    public static StringComparer Comparer { get; } = StringComparer.OrdinalIgnoreCase;

    /// <summary>Null when <paramref name="name"/> is acceptable, else why not. The empty name is accepted here
    /// (it means "not set"); callers that need a name check for it.</summary>
    public static string? Validate(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length > MaxLength) return $"a name is at most {MaxLength} characters, '{name[..MaxLength]}...' is longer";
        foreach (var rune in name.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (Rune.IsWhiteSpace(rune) || Rune.IsControl(rune) || category is UnicodeCategory.Format or UnicodeCategory.Surrogate
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned)
                return $"a name may not contain spaces or invisible characters (U+{rune.Value:X4})";
            if (rune.Value is '"' or '\'' or '/' or '\\' or '`')
                return $"a name may not contain {(char)rune.Value}";
        }
        return null;
    }
}
