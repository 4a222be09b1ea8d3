using AkkaTcpTransfer.Tui;

namespace AkkaTcpTransfer.Tests.Presentation;

/// <summary>Tab completion of the input line: rooms after "#" and as the room of the room commands, names, and words
/// that are neither left alone.</summary>
public sealed class CompletionTests
{
    private static readonly string[] Peers = ["bob", "carol"];
    private static readonly string[] Rooms = ["#lan", "#lobby", "#dev"];

    private static string Complete(string line) => Completion.Complete(line, Peers, _ => [], Rooms).Line;

    [Theory]
    [InlineData("/join #d", "/join #dev ")]
    [InlineData("/join d", "/join #dev ")]          // the "#" may be left out where only a room can be
    [InlineData("/leave #LA", "/leave #lan ")]
    [InlineData("/members lo", "/members #lobby ")]
    [InlineData("/topic #d", "/topic #dev ")]
    [InlineData("/history #d", "/history #dev ")]
    [InlineData("/history 20 #d", "/history 20 #dev ")]
    [InlineData("/msg #d", "/msg #dev ")]
    [InlineData("/msg b", "/msg bob ")]
    [InlineData("see you in #d", "see you in #dev ")]
    [InlineData("#d", "#dev ")]
    [InlineData("/msg bob come to #d", "/msg bob come to #dev ")]
    public void A_room_is_completed_after_a_hash_and_as_the_room_of_a_room_command(string typed, string completed) =>
        Assert.Equal(completed, Complete(typed));

    [Theory]
    [InlineData("/topic d")]        // the topic's text, not a room
    [InlineData("/send #d")]        // a path
    [InlineData("just d")]
    public void A_word_that_is_not_a_room_is_left_alone(string typed) => Assert.Equal(typed, Complete(typed));

    [Fact]
    public void Rooms_that_share_a_start_are_completed_as_far_as_they_agree_and_listed()
    {
        var (line, candidates) = Completion.Complete("/join #l", Peers, _ => [], Rooms);
        Assert.Equal("/join #l", line);
        Assert.Equal(["#lan ", "#lobby "], candidates);
    }
}
