using AkkaTcpTransfer.Chat;

namespace AkkaTcpTransfer.Tests.Names;

/// <summary>Names people cannot tell apart are one name: compared by TR39 skeleton after case folding and NFKD.</summary>
public class NameSkeletonTests
{
    [Theory]
    [InlineData("alice", "ALICE")]
    [InlineData("alice", "\u0430lice")]                               // Cyrillic а
    [InlineData("alice", "\uff41\uff4c\uff49\uff43\uff45")]           // fullwidth
    [InlineData("bobqbzdfndn", "\uff42\uff4f\uff42\uff51\uff42\uff5a\uff44\uff46\uff4e\uff44\uff4e")] // fullwidth, all letters
    [InlineData("alice", "\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e")] // mathematical bold
    [InlineData("server", "serv\u0435r")]                             // Cyrillic е
    [InlineData("modern", "rnodern")]                                 // rn looks like m
    [InlineData("l1l", "lll")]                                        // l and 1
    [InlineData("caf\u00e9", "cafe\u0301")]                           // precomposed é, and e + combining acute
    [InlineData("\ud55c\uae00", "\u1112\u1161\u11ab\u1100\u1173\u11af")] // Hangul syllables and their jamo
    [InlineData("user42", "user\uff14\uff12")]                        // fullwidth digits
    public void Look_alikes_have_the_same_skeleton(string a, string b) =>
        Assert.Equal(NameSkeleton.Of(a), NameSkeleton.Of(b));

    [Theory]
    [InlineData("alice", "alicia")]
    [InlineData("bob", "rob")]
    [InlineData("anna", "hanna")]
    [InlineData("zoë", "zoe1")]
    public void Different_names_stay_different(string a, string b) =>
        Assert.NotEqual(NameSkeleton.Of(a), NameSkeleton.Of(b));

    [Fact]
    public void A_capital_that_looks_like_another_letter_is_caught_by_the_shape_key()
    {
        // "Ian" and "lan": folded first they differ (i, l); as written, capital I looks like l.
        Assert.NotEqual(PeerNames.Key("Ian"), PeerNames.Key("lan"));
        Assert.Equal(PeerNames.ShapeKey("Ian"), PeerNames.ShapeKey("lan"));
        // And case variants stay one name by the first key.
        Assert.Equal(PeerNames.Key("ALICE"), PeerNames.Key("alice"));
    }

    [Fact]
    public void The_name_comparer_uses_the_skeleton()
    {
        var online = new HashSet<string>(PeerNames.Comparer) { "alice" };
        Assert.Contains("\u0430lice", online);
        Assert.DoesNotContain("alicia", online);
    }
}
