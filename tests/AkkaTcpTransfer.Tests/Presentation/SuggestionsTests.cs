using AkkaTcpTransfer.Presentation;

namespace AkkaTcpTransfer.Tests.Presentation;

/// <summary>"Did you mean …?": a slip of the fingers finds what was meant, a start of one name is that name, and a word
/// near nothing finds nothing.</summary>
public sealed class SuggestionsTests
{
    private static readonly string[] Commands = ["server", "client", "demo"];
    private static readonly string[] Options = ["--host", "--port", "--name", "--token", "--token-file", "--cert", "--key", "--cluster-port", "--cluster-host", "--config", "--help"];

    [Theory]
    [InlineData("sever", "server")]     // a letter left out
    [InlineData("clinet", "client")]    // two letters swapped: one edit
    [InlineData("sevrer", "server")]
    [InlineData("serverr", "server")]   // a letter doubled
    [InlineData("Server", "server")]    // case is no mistake
    [InlineData("serv", "server")]      // the start of one name
    [InlineData("d", "demo")]
    public void A_mistyped_command_finds_the_one_meant(string typed, string meant) => Assert.Equal(meant, Suggestions.Nearest(typed, Commands));

    [Theory]
    [InlineData("--nmae", "--name")]
    [InlineData("--prot", "--port")]
    [InlineData("-name", "--name")]     // one dash short
    [InlineData("--hots", "--host")]
    [InlineData("--tokne-file", "--token-file")]
    [InlineData("--hepl", "--help")]
    [InlineData("--na", "--name")]
    public void A_mistyped_option_finds_the_one_meant(string typed, string meant) => Assert.Equal(meant, Suggestions.Nearest(typed, Options));

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("xyz")]
    [InlineData("")]
    public void A_word_near_no_command_finds_none(string typed) => Assert.Null(Suggestions.Nearest(typed, Commands));

    [Theory]
    [InlineData("--c", null)]      // the start of four options: which one is anyone's guess
    [InlineData("--k", "--key")]   // the start of one
    [InlineData("--bogus", null)]
    [InlineData("--", null)]
    public void A_start_of_one_option_is_that_option_and_of_several_is_none(string typed, string? meant) =>
        Assert.Equal(meant, Suggestions.Nearest(typed, Options));

    [Fact]
    public void A_short_word_is_allowed_one_edit_and_a_longer_one_two()
    {
        // Dashes do not count: "--kex" is a three-letter word one edit from "key", "--kxx" two.
        Assert.Equal("--key", Suggestions.Nearest("--kex", Options));
        Assert.Null(Suggestions.Nearest("--kxx", Options));
        Assert.Equal("server", Suggestions.Nearest("srevr", Commands));
    }

    [Theory]
    [InlineData("clinet", "client", 1)]
    [InlineData("abcd", "badc", 2)]
    [InlineData("sever", "server", 1)]
    [InlineData("", "demo", 4)]
    [InlineData("DEMO", "demo", 0)]
    [InlineData("kitten", "sitting", 3)]
    public void Distance_counts_a_swap_of_neighbours_as_one_edit(string a, string b, int distance)
    {
        Assert.Equal(distance, Suggestions.Distance(a, b));
        Assert.Equal(distance, Suggestions.Distance(b, a));
    }
}
