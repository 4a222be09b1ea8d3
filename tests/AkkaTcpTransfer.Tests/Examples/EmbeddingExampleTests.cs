namespace AkkaTcpTransfer.Tests.Examples;

/// <summary>The embedding example of docs/EMBEDDING.md is this project's Examples/EmbeddingExample.cs: compiled with
/// the tests, run here, and compared with the document's text so that the two cannot drift apart.</summary>
public sealed class EmbeddingExampleTests
{
    private static string RepoFile(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AkkaTcpTransfer.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir.FullName, relative);
    }

    private static string Between(string text, string begin, string end)
    {
        var start = text.IndexOf(begin, StringComparison.Ordinal);
        var stop = text.IndexOf(end, StringComparison.Ordinal);
        Assert.True(start >= 0 && stop > start, $"markers {begin} .. {end} not found");
        return text[(start + begin.Length)..stop].Replace("\r\n", "\n", StringComparison.Ordinal).Trim('\n');
    }

    [Fact]
    public async Task The_embedding_example_runs_and_the_server_hears_the_client()
    {
        var state = Directory.CreateTempSubdirectory("att-embedding-").FullName;
        try
        {
            Assert.Equal("alice: hello from an embedding program", await MyApp.EmbeddingExample.RunAsync(state));
            Assert.True(File.Exists(Path.Combine(state, "server", "server-key.pem")), "the server's key is kept in its state folder");
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public void The_embedding_doc_shows_exactly_the_example_that_is_compiled_and_run()
    {
        var source = Between(File.ReadAllText(RepoFile("tests/AkkaTcpTransfer.Tests/Examples/EmbeddingExample.cs")),
            "// docs/EMBEDDING.md:embedding:begin", "// docs/EMBEDDING.md:embedding:end");
        var doc = Between(File.ReadAllText(RepoFile("docs/EMBEDDING.md")),
            "<!-- embedding:begin -->\n```csharp", "```\n<!-- embedding:end -->");
        Assert.Equal(source, doc);
    }
}
