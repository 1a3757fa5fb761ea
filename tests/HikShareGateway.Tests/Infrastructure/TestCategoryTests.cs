using System.Reflection;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// Every test class says which run it belongs to, so <c>dotnet test --filter Category=Unit</c> runs the fast tests
/// and nothing is left out of both: <c>Integration</c> when it starts an external process (mosquitto, the gst camera
/// script, ffmpeg/ffprobe, gst-launch, onvif-util, systemd-analyze, bash, the gateway process), <c>Unit</c> otherwise.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TestCategoryTests
{
    private static readonly string[] Categories = ["Unit", "Integration"];

    [Fact]
    public void EveryTestClass_HasAClassLevelCategoryTrait_UnitOrIntegration()
    {
        var testClasses = TestClasses();
        var missing = testClasses.Where(t => !Categories.Contains(CategoryOf(t))).Select(t => t.FullName).Order(StringComparer.Ordinal).ToList();

        Assert.True(testClasses.Count > 50, $"found only {testClasses.Count} test classes: the scan itself is broken");
        Assert.True(missing.Count == 0, "test classes without [Trait(\"Category\", \"Unit\" or \"Integration\")]: " + string.Join(", ", missing));
    }

    [Fact]
    public void BothCategories_AreInUse()
    {
        var used = TestClasses().Select(CategoryOf).Distinct().Order(StringComparer.Ordinal);

        Assert.Equal(["Integration", "Unit"], used);
    }

    private static List<Type> TestClasses() =>
        typeof(TestCategoryTests).Assembly.GetTypes()
            .Where(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)
                .Any(m => m.IsDefined(typeof(FactAttribute), inherit: true))) // [Theory] derives from [Fact]
            .ToList();

    /// <summary>The class's own Category trait (not a method's), as xunit reads it: the attribute's constructor arguments.</summary>
    private static string? CategoryOf(Type type) =>
        type.GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(TraitAttribute) && (string?)a.ConstructorArguments[0].Value == "Category")
            .Select(a => (string?)a.ConstructorArguments[1].Value)
            .FirstOrDefault();
}
