using System.Globalization;
using System.Text;

namespace AkkaTcpTransfer.Chat;

/// <summary>What a peer name may be: 1 to 32 characters, no whitespace, no control, format or private-use characters,
/// no quotes or slashes (names are typed in commands such as <c>/msg NAME</c>). Unicode letters are welcome. Names that
/// people cannot tell apart are the same name: they compare by their confusable skeleton (<see cref="NameSkeleton"/>),
/// which also folds case, so "Bob", "bob" and "Ь0b"-style look-alikes cannot be online at once.</summary>
internal static class PeerNames
{
    public const int MaxLength = 32;

    /// <summary>Compares names by skeleton. Hashing computes a skeleton: where a name is compared often, keep its
    /// <see cref="Key"/> instead.</summary>
    public static IEqualityComparer<string> Comparer { get; } = new SkeletonComparer();

    /// <summary>The form names are compared in: equal keys, same name (case folded first, then the skeleton).</summary>
    public static string Key(string name) => NameSkeleton.Of(name);

    /// <summary>The second form: the skeleton of the name as written, then case-folded, which catches capitals that look
    /// like other letters ("Ian" and "lan"). Two names are the same if either form is.</summary>
    public static string ShapeKey(string name) => NameSkeleton.OfShape(name);

    /// <summary>Null when <paramref name="name"/> is acceptable, else why not. The empty name is accepted here
    /// (it means "not set"); callers that need a name check for it.</summary>
    public static string? Validate(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length > MaxLength) return $"a name is at most {MaxLength} characters";
        foreach (var rune in name.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (Rune.IsWhiteSpace(rune) || Rune.IsControl(rune) || category is UnicodeCategory.Format or UnicodeCategory.Surrogate
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned)
                return $"a name may not contain spaces or invisible characters (U+{rune.Value:X4})";
            if (rune.Value is '"' or '\'' or '/' or '\\' or '`')
                return $"a name may not contain {(char)rune.Value}";
        }
        if (name.Length > 0 && Key(name).Length == 0) return "a name must have something visible in it";
        if (name.StartsWith(RoomNames.Prefix)) return $"a name may not start with {RoomNames.Prefix} (that is a room: {name})";
        return null;
    }

    private sealed class SkeletonComparer : IEqualityComparer<string>
    {
        public bool Equals(string? x, string? y) =>
            ReferenceEquals(x, y) || (x is not null && y is not null && (string.Equals(x, y, StringComparison.Ordinal) || Key(x) == Key(y)));

        // Note: this comparer uses the first form only (a hash must be one function); the registry checks both.

        public int GetHashCode(string obj) => StringComparer.Ordinal.GetHashCode(Key(obj));
    }
}
