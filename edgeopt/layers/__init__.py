"""edgeopt's custom Keras layers; importing this package registers them for (de)serialisation."""
