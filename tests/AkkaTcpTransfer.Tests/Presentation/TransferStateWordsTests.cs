using System.Text.Json;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Presentation;

namespace AkkaTcpTransfer.Tests.Presentation;

/// <summary>A transfer's state is an enum in the code and a word in the output: <c>--json</c>'s words are a contract
/// (docs/EMBEDDING.md, <c>transfers</c>), and a listing for people uses the same ones.</summary>
public sealed class TransferStateWordsTests
{
    private static TransfersListed Listing(TransferState state) =>
        new([new TransferSummary("0badcafe", "big.bin", TransferDirection.Send, "bob", 100, 1000, state)]);

    [Theory]
    [InlineData(TransferState.Queued, "queued")]
    [InlineData(TransferState.Offered, "offered")]
    [InlineData(TransferState.Sending, "sending")]
    [InlineData(TransferState.Receiving, "receiving")]
    public void Json_writes_each_state_as_its_word_of_the_contract(TransferState state, string word)
    {
        using var json = JsonDocument.Parse(JsonEventFormatter.Format(Listing(state))!);
        Assert.Equal(word, json.RootElement.GetProperty("transfers")[0].GetProperty("state").GetString());
    }

    [Theory]
    [InlineData(TransferState.Queued, "queued")]
    [InlineData(TransferState.Offered, "offered")]
    [InlineData(TransferState.Sending, "sending")]
    [InlineData(TransferState.Receiving, "receiving")]
    public void A_listing_for_people_uses_the_same_words(TransferState state, string word)
    {
        var line = HumanEventFormatter.Format(Listing(state), DateTimeOffset.UtcNow)!;
        Assert.Contains($"0badcafe to bob big.bin {word} ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_state_has_a_word()
    {
        foreach (var state in Enum.GetValues<TransferState>())
            Assert.NotNull(JsonEventFormatter.Format(Listing(state)));
    }
}
