namespace HikShareGateway.Tests.Infrastructure;

/// <summary>Files under tests/TestData (recorded from real devices; see TestData/README.md for attribution).</summary>
public static class TestData
{
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "TestData");

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static byte[] Bytes(params string[] parts) => File.ReadAllBytes(PathOf(parts));

    public static IEnumerable<string> Files(string folder, string pattern = "*") =>
        Directory.EnumerateFiles(PathOf(folder), pattern, SearchOption.AllDirectories).Order(StringComparer.Ordinal);
}
