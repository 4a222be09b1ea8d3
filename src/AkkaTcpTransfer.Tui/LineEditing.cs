using System.Globalization;

namespace AkkaTcpTransfer.Tui;

/// <summary>The editing keys of readline (bash, irssi, weechat) that people type without thinking, as pure edits of the
/// input line. Terminal.Gui's text field gives Ctrl+A to "select all" (the next letter typed then replaces the line)
/// and does nothing for Ctrl+U or Ctrl+W, so the window does these itself.</summary>
internal static class LineEditing
{
    public enum Edit
    {
        /// <summary>Ctrl+A: the cursor to the start of the line.</summary>
        StartOfLine,
        /// <summary>Ctrl+E: the cursor to the end of the line.</summary>
        EndOfLine,
        /// <summary>Ctrl+U: delete from the start of the line to the cursor.</summary>
        DeleteToStart,
        /// <summary>Ctrl+K: delete from the cursor to the end of the line.</summary>
        DeleteToEnd,
        /// <summary>Ctrl+W: delete the word before the cursor, and the spaces between it and the cursor.</summary>
        DeleteWordBefore,
    }

    /// <summary>The line after <paramref name="edit"/>. The cursor counts text elements (what the person sees as one
    /// character, an emoji or a letter with its accents), as Terminal.Gui's insertion point does, so that no edit
    /// splits one.</summary>
    public static (string Text, int Cursor) Apply(Edit edit, string text, int cursor)
    {
        ArgumentNullException.ThrowIfNull(text);
        var elements = Elements(text);
        cursor = Math.Clamp(cursor, 0, elements.Count);
        switch (edit)
        {
            case Edit.StartOfLine:
                return (text, 0);
            case Edit.EndOfLine:
                return (text, elements.Count);
            case Edit.DeleteToStart:
                return (string.Concat(elements.Skip(cursor)), 0);
            case Edit.DeleteToEnd:
                return (string.Concat(elements.Take(cursor)), cursor);
            case Edit.DeleteWordBefore:
            {
                // As readline's unix-word-rubout: back over spaces, then over the word; a word ends at whitespace only,
                // so a path or a /command goes whole.
                var start = cursor;
                while (start > 0 && IsSpace(elements[start - 1])) start--;
                while (start > 0 && !IsSpace(elements[start - 1])) start--;
                return (string.Concat(elements.Take(start).Concat(elements.Skip(cursor))), start);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(edit), edit, "not an edit of the line");
        }
    }

    private static List<string> Elements(string text)
    {
        var elements = new List<string>();
        var enumerator = StringInfo.GetTextElementEnumerator(text);
        while (enumerator.MoveNext()) elements.Add(enumerator.GetTextElement());
        return elements;
    }

    private static bool IsSpace(string element) => element.Length > 0 && char.IsWhiteSpace(element[0]);
}
