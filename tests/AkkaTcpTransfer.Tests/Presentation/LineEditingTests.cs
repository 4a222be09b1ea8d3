using AkkaTcpTransfer.Tui;
using static AkkaTcpTransfer.Tui.LineEditing.Edit;

namespace AkkaTcpTransfer.Tests.Presentation;

/// <summary>The readline keys of the input line as edits of (text, cursor); '|' marks the cursor in each case.</summary>
public sealed class LineEditingTests
{
    private static string Apply(LineEditing.Edit edit, string marked)
    {
        var cursor = marked.IndexOf('|', StringComparison.Ordinal);
        var (text, after) = LineEditing.Apply(edit, marked.Remove(cursor, 1), cursor);
        return text.Insert(after, "|");
    }

    [Theory]
    [InlineData("hello wo|rld", "|hello world")]
    [InlineData("|hello", "|hello")]
    [InlineData("|", "|")]
    public void Ctrl_A_goes_to_the_start_of_the_line(string before, string after) => Assert.Equal(after, Apply(StartOfLine, before));

    [Theory]
    [InlineData("hello wo|rld", "hello world|")]
    [InlineData("hello|", "hello|")]
    public void Ctrl_E_goes_to_the_end_of_the_line(string before, string after) => Assert.Equal(after, Apply(EndOfLine, before));

    [Theory]
    [InlineData("junk|", "|")]
    [InlineData("hello wo|rld", "|rld")]
    [InlineData("|hello", "|hello")]
    public void Ctrl_U_deletes_from_the_start_of_the_line_to_the_cursor(string before, string after) => Assert.Equal(after, Apply(DeleteToStart, before));

    [Theory]
    [InlineData("hello wo|rld", "hello wo|")]
    [InlineData("|hello", "|")]
    [InlineData("hello|", "hello|")]
    public void Ctrl_K_deletes_from_the_cursor_to_the_end_of_the_line(string before, string after) => Assert.Equal(after, Apply(DeleteToEnd, before));

    [Theory]
    [InlineData("hello wrold|", "hello |")]
    [InlineData("hello wrold  |", "hello |")]          // the spaces before the cursor go with the word
    [InlineData("hello wo|rld", "hello |rld")]         // only the part before the cursor
    [InlineData("/send ~/my-dir/a.txt|", "/send |")]   // a word ends at a space only: a path goes whole
    [InlineData("hello|", "|")]
    [InlineData("   |", "|")]
    [InlineData("|hello", "|hello")]
    [InlineData("one two| three", "one | three")]
    public void Ctrl_W_deletes_the_word_before_the_cursor(string before, string after) => Assert.Equal(after, Apply(DeleteWordBefore, before));

    [Fact]
    public void The_cursor_counts_characters_as_seen_so_that_no_edit_splits_one()
    {
        // "👍🏽" is one character on screen (four UTF-16 units), "é" here a letter and its accent (two).
        Assert.Equal(("ok ", 3), LineEditing.Apply(DeleteWordBefore, "ok 👍🏽", 4));
        Assert.Equal(("cafe\u0301", 4), LineEditing.Apply(DeleteToEnd, "cafe\u0301 👍🏽", 4));
        Assert.Equal(("👍🏽 x", 3), LineEditing.Apply(EndOfLine, "👍🏽 x", 0));
    }

    [Fact]
    public void A_cursor_beyond_the_line_is_taken_as_its_end()
    {
        Assert.Equal(("hello ", 6), LineEditing.Apply(DeleteWordBefore, "hello world", 99));
        Assert.Equal(("", 0), LineEditing.Apply(DeleteToStart, "hello", 99));
    }
}
