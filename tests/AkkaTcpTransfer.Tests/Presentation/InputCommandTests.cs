using AkkaTcpTransfer.Presentation;

namespace AkkaTcpTransfer.Tests.Presentation;

/// <summary>Lines as people type them: shell-like quoting (Windows paths keep their backslashes), ~, several paths,
/// a name told from a path, and a mistyped command answered with the nearest one.</summary>
public sealed class InputCommandTests
{
    private const string Home = "/home/me";

    private static InputCommand.Send Send(string line, params string[] peers) =>
        Assert.IsType<InputCommand.Send>(InputCommand.Parse(line, peers.Length > 0 ? peers : null, Home));

    [Theory]
    [InlineData(@"/send ""C:\Users\me\f.txt""", @"C:\Users\me\f.txt")]
    [InlineData(@"/send C:\Users\me\f.txt", @"C:\Users\me\f.txt")]
    [InlineData(@"/send 'C:\Users\me\it''s.txt'", @"C:\Users\me\its.txt")]
    [InlineData(@"/send ""a \""quoted\"" name""", @"a ""quoted"" name")]
    [InlineData(@"/send ""back\\slash""", @"back\slash")]
    [InlineData(@"/send my\ file.txt", "my file.txt")]
    [InlineData(@"/send 'single $ \ literal'", @"single $ \ literal")]
    [InlineData("/send ~/docs/a.pdf", "/home/me/docs/a.pdf")]
    [InlineData("/send ~", "/home/me")]
    [InlineData("/send \"~/not/expanded\"", "~/not/expanded")]
    [InlineData("/send a~b", "a~b")]
    public void A_path_is_taken_as_a_shell_would(string line, string path)
    {
        var send = Send(line);
        Assert.Null(send.To);
        Assert.Equal([path], send.Paths);
    }

    [Fact]
    public void Several_paths_go_to_one_name_and_a_name_online_is_told_from_a_path()
    {
        var send = Send("/send bob a.txt \"b c.txt\" ~/d", "alice", "bob");
        Assert.Equal("bob", send.To);
        Assert.Equal(["a.txt", "b c.txt", "/home/me/d"], send.Paths);
        var toServer = Send("/send a.txt b.txt", "alice", "bob");
        Assert.Null(toServer.To);
        Assert.Equal(["a.txt", "b.txt"], toServer.Paths);
    }

    [Fact]
    public void A_list_of_names_goes_to_each_and_a_trailing_comma_names_someone_offline()
    {
        var many = Send("/send bob,carol a.txt", "alice", "bob");
        Assert.Equal("bob,carol", many.To);
        Assert.Equal(["a.txt"], many.Paths);
        var offline = Send("/send carol, a.txt", "alice", "bob");
        Assert.Equal("carol", offline.To);
        Assert.Equal(["a.txt"], offline.Paths);
    }

    [Fact]
    public void Without_the_names_online_a_first_word_that_is_an_existing_path_is_a_path()
    {
        var file = Path.GetTempFileName();
        try
        {
            var send = Assert.IsType<InputCommand.Send>(InputCommand.Parse($"/send {file} other.txt", null, Home));
            Assert.Null(send.To);
            Assert.Equal([file, "other.txt"], send.Paths);
            var named = Assert.IsType<InputCommand.Send>(InputCommand.Parse($"/send bob {file}", null, Home));
            Assert.Equal("bob", named.To);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("/send \"open", "unbalanced quotes")]
    [InlineData("/send", "usage: /send [NAME] PATH...")]
    [InlineData("/msg bob", "usage: /msg NAME TEXT")]
    [InlineData("/accept", "usage: /accept ID")]
    [InlineData("/sned a.txt", "unknown command /sned: did you mean /send?")]
    [InlineData("/tranfers", "did you mean /transfers?")]
    [InlineData("/hwo", "unknown command /hwo: did you mean /who?")]
    [InlineData("/snd a.txt", "unknown command /snd: did you mean /send?")]
    [InlineData("/Acept 1", "unknown command /acept: did you mean /accept?")]
    [InlineData("/tr", "unknown command /tr: did you mean /transfers?")]
    [InlineData("/xyzzy", "unknown command /xyzzy (/help lists the commands)")]
    public void Mistakes_are_named_with_what_would_work(string line, string message) =>
        Assert.Contains(message, Assert.IsType<InputCommand.Invalid>(InputCommand.Parse(line, null, Home)).Message, StringComparison.Ordinal);

    [Fact]
    public void Chat_help_and_the_rest()
    {
        Assert.Equal(new InputCommand.Say("hello there"), InputCommand.Parse("hello there"));
        Assert.Equal(new InputCommand.Say("/not a command"), InputCommand.Parse("//not a command"));
        Assert.Equal(new InputCommand.SayTo("bob", "hi  there"), InputCommand.Parse("/msg bob hi  there"));
        Assert.IsType<InputCommand.Help>(InputCommand.Parse("help"));
        Assert.IsType<InputCommand.Help>(InputCommand.Parse("/help"));
        Assert.IsType<InputCommand.Quit>(InputCommand.Parse("/QUIT"));
        Assert.Null(InputCommand.Parse("   "));
        Assert.Equal(new InputCommand.Accept("0a1b2c3d"), InputCommand.Parse("/accept 0a1b2c3d"));
    }
}
